#!/usr/bin/env python3
"""Writes the Argo CD health-check snippets from config/argocd/*.lua, or with
--check fails when a snippet does not hold the Lua files verbatim:

- config/argocd/argocd-cm-patch.yaml: a strategic-merge patch of the
  argocd-cm ConfigMap (kubectl patch, or a kustomize patch of an Argo CD install);
- config/argocd/argo-cd-values.yaml: the same keys as values of the argo-cd
  Helm chart (configs.cm).
"""

import os
import sys

import yaml

root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
lua_dir = os.path.join(root, "config", "argocd")
KINDS = {"Flow": "flow-health.lua", "FlowRun": "flowrun-health.lua"}


class Literal(str):
    pass


def literal(dumper, data):
    return dumper.represent_scalar("tag:yaml.org,2002:str", data, style="|")


yaml.add_representer(Literal, literal)


def keys():
    out = {}
    for kind, name in KINDS.items():
        with open(os.path.join(lua_dir, name)) as handle:
            out[f"resource.customizations.health.sluice.dev_{kind}"] = Literal(handle.read())
    return out


def documents():
    cm = {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": "argocd-cm", "namespace": "argocd"},
        "data": keys(),
    }
    values = {"configs": {"cm": keys()}}
    header = "# Generated from config/argocd/*.lua by e2e/scripts/argocd-snippets.py; do not edit.\n"
    return {
        os.path.join(lua_dir, "argocd-cm-patch.yaml"):
            header + "# kubectl -n argocd patch configmap argocd-cm --patch-file argocd-cm-patch.yaml\n"
            + yaml.dump(cm, sort_keys=False, width=1000),
        os.path.join(lua_dir, "argo-cd-values.yaml"):
            header + "# helm upgrade argocd argo/argo-cd -n argocd -f argo-cd-values.yaml\n"
            + yaml.dump(values, sort_keys=False, width=1000),
    }


def main():
    check = "--check" in sys.argv[1:]
    stale = []
    for path, text in documents().items():
        if check:
            current = open(path).read() if os.path.exists(path) else None
            if current != text:
                stale.append(os.path.relpath(path, root))
        else:
            with open(path, "w") as handle:
                handle.write(text)
    if stale:
        sys.exit("argocd-snippets: stale " + ", ".join(stale) + ": run e2e/scripts/argocd-snippets.py")


if __name__ == "__main__":
    main()
