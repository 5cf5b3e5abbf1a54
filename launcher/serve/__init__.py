"""`launcher serve`: the gate as a GitHub App webhook service (docs/serve.md).

The same decision as the gate job (`launcher.jobs.gate.run_gate`, its adapters and its app-mode
verdict), answered in about a second for every repository the app is installed on, instead of
after an Actions runner starts. Modules: `config` (environment only), `signature` (refusing
unsigned or badly signed deliveries), `routing` (which pull requests an event is a hint about:
pure), `work` (the bounded queue coalescing bursts per pull request), `appclient` (the app's
JWT, installation tokens, deliveries), `decide` (one pull request to a stable verdict),
`metrics`, `logs` (JSON lines with the delivery id) and `app` (HTTP and background loops).
"""
