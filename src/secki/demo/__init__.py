"""`secki demo`: a simulated national election, replayed live on the embedded database."""
