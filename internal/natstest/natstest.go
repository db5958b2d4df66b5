package natstest

import (
	"fmt"
	"net"
	neturl "net/url"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nkeys"
)

// ready bounds a server's start; generous for a loaded machine.
const ready = 30 * time.Second

// Start starts one JetStream server on 127.0.0.1 (any free port) with
// its store in storeDir; set, when not nil, changes the options first
// (a port, TLS, users, max payload). The server is shut down at the end
// of the test, or earlier by the caller.
func Start(tb testing.TB, storeDir string, set func(*server.Options)) *server.Server {
	tb.Helper()
	o := &server.Options{Host: "127.0.0.1", Port: -1, JetStream: true, StoreDir: storeDir, NoLog: true, NoSigs: true}
	if set != nil {
		set(o)
	}
	s, err := server.NewServer(o)
	if err != nil {
		tb.Fatal(err)
	}
	go s.Start()
	tb.Cleanup(func() { s.Shutdown(); s.WaitForShutdown() })
	if !s.ReadyForConnections(ready) {
		tb.Fatal("nats server not ready")
	}
	return s
}

// StartNKey starts one JetStream server as Start does (its store in
// dir/js) that admits only one NKey user, made for the test; it returns
// the server and the file dir/hub.nk holding that user's seed, as a hub
// or sensor is given it (nkey_file, --nats-nkey).
func StartNKey(tb testing.TB, dir string) (*server.Server, string) {
	tb.Helper()
	kp, err := nkeys.CreateUser()
	if err != nil {
		tb.Fatal(err)
	}
	pub, _ := kp.PublicKey()
	seed, _ := kp.Seed()
	seedFile := filepath.Join(dir, "hub.nk")
	if err := os.WriteFile(seedFile, seed, 0o600); err != nil {
		tb.Fatal(err)
	}
	return Start(tb, filepath.Join(dir, "js"), func(o *server.Options) { o.Nkeys = []*server.NkeyUser{{Nkey: pub}} }), seedFile
}

// Cluster starts n JetStream servers routed as one cluster ("smtpscope",
// servers n1..nN, stores under dir/n1..) and returns their client URLs;
// set applies to each server's options as in Start.
func Cluster(tb testing.TB, dir string, n int, set func(*server.Options)) []string {
	tb.Helper()
	ports := make([]int, n)
	var routes []*neturl.URL
	for i := range ports {
		ports[i] = FreePort(tb)
		routes = append(routes, &neturl.URL{Scheme: "nats", Host: fmt.Sprintf("127.0.0.1:%d", ports[i])})
	}
	var urls []string
	for i, p := range ports {
		name := fmt.Sprintf("n%d", i+1)
		s := Start(tb, filepath.Join(dir, name), func(o *server.Options) {
			o.ServerName, o.Routes = name, routes
			o.Cluster = server.ClusterOpts{Name: "smtpscope", Host: "127.0.0.1", Port: p}
			if set != nil {
				set(o)
			}
		})
		urls = append(urls, s.ClientURL())
	}
	return urls
}

// FreePort is a loopback port nothing listens on now.
func FreePort(tb testing.TB) int {
	tb.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}
