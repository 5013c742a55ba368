"""Ground-floor helpers every other package may use: one process launcher (`common.process`)
and one way to declare a setting as flag, environment variable and default (`common.settings`).
Standard library only; imports nothing from ffwatt."""
