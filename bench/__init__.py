"""``make bench``: invx's numbering measured against the HTTP ceiling and the naive design."""
