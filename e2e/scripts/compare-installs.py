#!/usr/bin/env python3
"""Checks that two renderings install the same thing: `helm template
--include-crds` of charts/sluice and `kubectl kustomize config/default`.

    compare-installs.py CHART.yaml KUSTOMIZE.yaml

Same kinds and names (the kustomize side may add the Namespace, which
`helm install --create-namespace` creates), the same ClusterRole and Role
rules, the same CRDs, and the same controller container (image aside): args,
env names, ports, probes, security context, resources. Prints what differs.
"""

import sys

import yaml


def load(path):
    with open(path) as handle:
        return [d for d in yaml.safe_load_all(handle) if d]


def key(doc):
    return (doc["kind"], doc["metadata"]["name"])


def container(docs):
    for doc in docs:
        if doc["kind"] == "Deployment":
            spec = doc["spec"]["template"]["spec"]
            c = dict(spec["containers"][0])
            c.pop("image")
            c["env"] = [e["name"] for e in c.get("env", [])]
            return c, {k: v for k, v in spec.items() if k != "containers"}
    return None, None


def main():
    chart, kustomize = load(sys.argv[1]), load(sys.argv[2])
    problems = []
    chart_keys = {key(d) for d in chart}
    kustomize_keys = {key(d) for d in kustomize if d["kind"] != "Namespace"}
    for missing in sorted(chart_keys - kustomize_keys):
        problems.append(f"only the chart installs {missing[0]}/{missing[1]}")
    for missing in sorted(kustomize_keys - chart_keys):
        problems.append(f"only kustomize installs {missing[0]}/{missing[1]}")
    by_key = {key(d): d for d in kustomize}
    for doc in chart:
        other = by_key.get(key(doc))
        if other is None:
            continue
        if doc["kind"] in ("ClusterRole", "Role") and doc.get("rules") != other.get("rules"):
            problems.append(f"{doc['kind']}/{doc['metadata']['name']}: rules differ")
        if doc["kind"] in ("ClusterRoleBinding", "RoleBinding"):
            if doc["roleRef"] != other["roleRef"] or doc["subjects"] != other["subjects"]:
                problems.append(f"{doc['kind']}/{doc['metadata']['name']}: roleRef or subjects differ")
        if doc["kind"] == "CustomResourceDefinition" and doc["spec"] != other["spec"]:
            problems.append(f"CustomResourceDefinition/{doc['metadata']['name']}: spec differs")
        if doc["kind"] == "Service" and doc["spec"]["ports"] != other["spec"]["ports"]:
            problems.append(f"Service/{doc['metadata']['name']}: ports differ")
        # Helm installs crds/ untemplated, so the chart's CRDs carry no labels.
        for label in () if doc["kind"] == "CustomResourceDefinition" else ("app.kubernetes.io/name", "app.kubernetes.io/instance", "app.kubernetes.io/part-of"):
            if doc["metadata"].get("labels", {}).get(label) != other["metadata"].get("labels", {}).get(label):
                problems.append(f"{doc['kind']}/{doc['metadata']['name']}: label {label} differs")
    (c1, p1), (c2, p2) = container(chart), container(kustomize)
    if c1 is None or c2 is None:
        problems.append("a Deployment is missing")
    else:
        for field in sorted(set(c1) | set(c2)):
            if c1.get(field) != c2.get(field):
                problems.append(f"controller container: {field} differs: {c1.get(field)!r} != {c2.get(field)!r}")
        for field in sorted(set(p1) | set(p2)):
            if p1.get(field) != p2.get(field):
                problems.append(f"controller pod spec: {field} differs: {p1.get(field)!r} != {p2.get(field)!r}")
    for problem in problems:
        print("compare-installs: " + problem, file=sys.stderr)
    if problems:
        sys.exit(1)
    print(f"compare-installs: chart and kustomize install the same {len(chart_keys)} objects")


if __name__ == "__main__":
    main()
