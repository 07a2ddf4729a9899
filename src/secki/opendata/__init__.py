"""Open data: bulk CSV, NIST SP 1500-100 export, static snapshots of the public results."""
