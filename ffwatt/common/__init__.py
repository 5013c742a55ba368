"""Ground-floor helpers every other package may use: one process launcher (`common.process`),
one way to declare a setting as flag, environment variable and default (`common.settings`), the
base of every error a user can fix (`common.errors`) and the version (`common.version`).
Standard library only; imports nothing from ffwatt."""
