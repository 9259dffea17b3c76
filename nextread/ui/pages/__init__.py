"""Importing this package registers every page with NiceGUI."""

from nextread.ui import covers  # noqa: F401  (registers the cover route)
from nextread.ui.pages import catalog, classes, imports, login, overview, settings_page, student, students

__all__ = ["catalog", "classes", "imports", "login", "overview", "settings_page", "student", "students"]
