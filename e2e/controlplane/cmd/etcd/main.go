// Command etcd is the stock etcd server (go.etcd.io/etcd/server/v3/etcdmain),
// built at the version k8s.io/kubernetes requires, for local e2e control planes.
package main

import (
	"os"

	"go.etcd.io/etcd/server/v3/etcdmain"
)

func main() {
	etcdmain.Main(os.Args)
}
