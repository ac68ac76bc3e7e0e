// Package charttest renders the clerk-forward-auth Helm chart in-process (no cluster, no
// helm binary) and checks what a cluster would receive: every manifest decodes strictly
// into its Kubernetes API type, values are validated by the chart's schema as `helm
// install` does, and the Deployment is wired and hardened as documented.
//
// It is its own module so that Helm and the Kubernetes API types never enter the
// service's dependency graph. Run it with helm/test.sh.
package charttest
