"""`fabrikam audit`: the seed's list of problems, found on a live cluster or in manifests, each with its remedy.

`checks` is pure (objects in, findings out), `sources` reads files and clusters, `report` prints; `rules` is the
catalog of what is looked for.
"""
