; Inno Setup 6 script: wraps the one-folder build (dist\Brushwork) into Brushwork-<version>-setup.exe
; with a Start-menu entry, an optional desktop icon and an uninstaller.
; packaging/build.py runs it on Windows as:
;   iscc /DAppVersion=0.1.0 /DAppId={GUID} /DSourceDir=dist\Brushwork /DIconFile=build\brushwork.ico
;        /DOutputDir=dist packaging\windows\brushwork.iss
; AppId comes from packaging/appinfo.py (WINDOWS_APP_ID) and must never change: Windows uses it to
; find an installed Brushwork when upgrading or uninstalling.

#ifndef AppVersion
  #error Pass /DAppVersion=<version from pyproject.toml> (packaging/build.py does)
#endif
#ifndef AppId
  #error Pass /DAppId=<WINDOWS_APP_ID from packaging/appinfo.py> (packaging/build.py does)
#endif
#ifndef SourceDir
  #define SourceDir "..\..\dist\Brushwork"
#endif
#ifndef OutputDir
  #define OutputDir "..\..\dist"
#endif
#ifndef IconFile
  #define IconFile "..\..\build\brushwork.ico"
#endif

[Setup]
; The GUID arrives with its braces; a leading "{{" keeps Inno from reading it as a constant.
AppId={{#AppId}
AppName=Brushwork
AppVersion={#AppVersion}
AppVerName=Brushwork {#AppVersion}
AppPublisher=Brushwork developers
DefaultDirName={autopf}\Brushwork
DefaultGroupName=Brushwork
DisableProgramGroupPage=yes
; Per-user install by default (no admin prompt); the user may choose all users instead.
PrivilegesRequired=lowest
PrivilegesRequiredOverridesAllowed=dialog
ArchitecturesAllowed=x64compatible
ArchitecturesInstallIn64BitMode=x64compatible
OutputDir={#OutputDir}
OutputBaseFilename=Brushwork-{#AppVersion}-setup
SetupIconFile={#IconFile}
UninstallDisplayIcon={app}\Brushwork.exe
UninstallDisplayName=Brushwork {#AppVersion}
; The app is about 1 GB (4 GB with CUDA): LZMA2 with a solid archive keeps setup.exe small.
Compression=lzma2/max
SolidCompression=yes
LZMANumBlockThreads=4
WizardStyle=modern
; A running Brushwork holds its DLLs open: ask to close it before replacing files.
CloseApplications=yes

[Languages]
Name: "english"; MessagesFile: "compiler:Default.isl"

[Tasks]
Name: "desktopicon"; Description: "{cm:CreateDesktopIcon}"; GroupDescription: "{cm:AdditionalIcons}"; Flags: unchecked

[Files]
Source: "{#SourceDir}\*"; DestDir: "{app}"; Flags: ignoreversion recursesubdirs createallsubdirs

[Icons]
Name: "{autoprograms}\Brushwork"; Filename: "{app}\Brushwork.exe"
Name: "{autoprograms}\Uninstall Brushwork"; Filename: "{uninstallexe}"
Name: "{autodesktop}\Brushwork"; Filename: "{app}\Brushwork.exe"; Tasks: desktopicon

[Run]
Filename: "{app}\Brushwork.exe"; Description: "{cm:LaunchProgram,Brushwork}"; Flags: nowait postinstall skipifsilent

[UninstallDelete]
; Only what the app itself may leave in its install folder; settings and images live in the
; user's profile (%LOCALAPPDATA%\Brushwork) and are kept, as users expect.
Type: filesandordirs; Name: "{app}\_internal\__pycache__"
