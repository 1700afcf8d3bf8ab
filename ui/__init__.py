"""PySide6 user interface of the station. Importing this package does not import Qt."""
