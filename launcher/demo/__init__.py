"""`launcher demo`: the whole pipeline on one machine, with no GitHub or AWS account.

`stage` starts the GitHub stand-in and a moto EC2 server, seeds a repository from this
repository's pools.yaml, example request and workflows, and plays GitHub Actions: every event
the stand-in records runs the workflows it triggers, through `launcher.sandbox.actions`.
`story` is the narrative: six requests, as their authors and approvers would see them.
"""
