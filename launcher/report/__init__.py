"""Views of the status overview: text tables and JSON for the CLI (`text`), and a static HTML
dashboard (`html`). Pure: they render an `Overview`, they read nothing."""
