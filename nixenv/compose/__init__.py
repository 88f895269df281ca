"""Docker Compose files read as `docker compose` reads them, and mapped onto nixenv.toml.

`load` finds, parses, interpolates, merges and normalises compose files into a `Project`
(model.py); `mapping.map_project` turns that into nixenv.toml `[services]` tables, secrets to
store and a report. Nothing here writes files: `nixenv.app.import_compose` does.
"""
