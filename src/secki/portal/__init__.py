"""The public site: results pages, maps, charts, the open-data download pages and the public
results API, with their HTTP caching. Pages for officials live in :mod:`secki.staff`."""
