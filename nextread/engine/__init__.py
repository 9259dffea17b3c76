"""Recommendation algorithms over numpy and scipy arrays: no database, web or cache imports."""
