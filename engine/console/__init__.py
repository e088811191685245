"""The web console (issue 27): server-rendered pages for service teams, under ``/console``."""
