; Inno Setup script of the station's Windows installer. It is built on Windows (not in CI):
;
;   py -3.11 -m venv .venv && .venv\Scripts\pip install -e .[package]
;   .venv\Scripts\pyinstaller --noconfirm --distpath dist --workpath build\pyinstaller packaging\station.spec
;   iscc /DAppVersion=0.1.0 packaging\windows\tracetrack-station.iss
;
; -> dist\tracetrack-station-0.1.0-setup.exe. It installs the one-folder build (packaging/station.spec
; makes tracetrack-station.exe for the command line and tracetrack-station-window.exe without a
; console for the Start menu). The stations' data is in each user's %LOCALAPPDATA%\TraceTrackStation:
; the uninstaller never touches it.

#ifndef AppVersion
  #define AppVersion "0.1.0"
#endif
#define Root "..\.."

[Setup]
AppId={{F76E5604-1465-4014-8C32-8AC504368F6B}
AppName=TraceTrack Station
AppVersion={#AppVersion}
AppPublisher=TraceTrack
DefaultDirName={autopf}\TraceTrack Station
DefaultGroupName=TraceTrack Station
DisableProgramGroupPage=yes
PrivilegesRequiredOverridesAllowed=dialog
ArchitecturesAllowed=x64compatible
ArchitecturesInstallIn64BitMode=x64compatible
OutputDir={#Root}\dist
OutputBaseFilename=tracetrack-station-{#AppVersion}-setup
SetupIconFile={#Root}\build\pyinstaller\station\icons\tracetrack-station.ico
UninstallDisplayIcon={app}\tracetrack-station.exe
Compression=lzma2
SolidCompression=yes
WizardStyle=modern

[Tasks]
Name: "desktopicon"; Description: "{cm:CreateDesktopIcon}"; Flags: unchecked

[Files]
Source: "{#Root}\dist\tracetrack-station\*"; DestDir: "{app}"; Flags: ignoreversion recursesubdirs createallsubdirs

[Icons]
Name: "{autoprograms}\TraceTrack Station"; Filename: "{app}\tracetrack-station-window.exe"
Name: "{autodesktop}\TraceTrack Station"; Filename: "{app}\tracetrack-station-window.exe"; Tasks: desktopicon

[Run]
Filename: "{app}\tracetrack-station-window.exe"; Description: "{cm:LaunchProgram,TraceTrack Station}"; Flags: nowait postinstall skipifsilent
