"""Camera scanning without Qt: decoder backends, the capture worker thread and debouncing.

The window (ui/camera_panel.py) turns the worker's callbacks into Qt signals.
"""
