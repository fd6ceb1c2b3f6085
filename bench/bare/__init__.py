"""The references ``make bench`` measures invx against, as a bare app of their own: plain
Flask and psycopg2, nothing of invx (no app set-up per request, no access log, no
middleware), so that neither reference pays invx's costs. ``app`` (the two endpoints),
``pool`` (its connections), ``schema`` (the naive design's tables), ``gunicorn_config``."""
