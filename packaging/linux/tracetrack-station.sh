#!/bin/sh
# TraceTrack Station: the program and everything it runs on (Python, Qt, OpenCV, zbar) are in
# /opt/tracetrack-station; the station's data stays in the user's own folders
# (~/.local/share/TraceTrackStation, ~/.config/TraceTrackStation) or in --basedir.
exec /opt/tracetrack-station/tracetrack-station "$@"
