"""Finish: a small draft render (zoom, drift) made large, in chunks that can run side by side."""
