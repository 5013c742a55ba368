"""Ground-floor helpers every other package may use: the base of every error a user can see
(`common.errors`), one way to declare a setting as flag, environment variable and default, and
options structs built from such declarations (`common.settings`), one HTTP client
(`common.urls`), one YAML loader (`common.yaml_file`), one process launcher (`common.process`)
and the server base built on it (`common.server`), and the version (`common.version`).
Standard library only (PyYAML, loaded on first use, for the YAML loader); imports nothing from
ffwatt outside common/."""
