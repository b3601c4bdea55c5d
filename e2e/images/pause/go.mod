// The test cluster's pod sandbox ("pause") program: built locally because no
// registry can be reached to pull registry.k8s.io/pause.
module sluice.dev/e2e/images/pause

go 1.26.0
