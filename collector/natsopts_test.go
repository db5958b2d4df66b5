package collector_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/smtpscope/smtpscope/collector"
	"github.com/smtpscope/smtpscope/internal/natstest"
)

// testPKI writes a CA, a server certificate for 127.0.0.1 and a client
// certificate (all ECDSA P-256, made for this test) under dir.
type testPKI struct{ ca, serverCert, serverKey, clientCert, clientKey string }

func newTestPKI(t *testing.T, dir string) testPKI {
	t.Helper()
	caKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	caTmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "smtpscope test CA"},
		NotBefore: now.Add(-time.Hour), NotAfter: now.Add(24 * time.Hour), IsCA: true, BasicConstraintsValid: true,
		KeyUsage: x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	caCert, _ := x509.ParseCertificate(caDER)
	p := testPKI{ca: filepath.Join(dir, "ca.pem")}
	writePEM(t, p.ca, "CERTIFICATE", caDER)
	leaf := func(name string, serial int64, usage x509.ExtKeyUsage) (string, string) {
		key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		if err != nil {
			t.Fatal(err)
		}
		tmpl := &x509.Certificate{SerialNumber: big.NewInt(serial), Subject: pkix.Name{CommonName: name},
			NotBefore: now.Add(-time.Hour), NotAfter: now.Add(24 * time.Hour), KeyUsage: x509.KeyUsageDigitalSignature,
			ExtKeyUsage: []x509.ExtKeyUsage{usage}, IPAddresses: []net.IP{net.ParseIP("127.0.0.1")}}
		der, err := x509.CreateCertificate(rand.Reader, tmpl, caCert, &key.PublicKey, caKey)
		if err != nil {
			t.Fatal(err)
		}
		kder, err := x509.MarshalECPrivateKey(key)
		if err != nil {
			t.Fatal(err)
		}
		cert, keyFile := filepath.Join(dir, name+".pem"), filepath.Join(dir, name+"-key.pem")
		writePEM(t, cert, "CERTIFICATE", der)
		writePEM(t, keyFile, "EC PRIVATE KEY", kder)
		return cert, keyFile
	}
	p.serverCert, p.serverKey = leaf("server", 2, x509.ExtKeyUsageServerAuth)
	p.clientCert, p.clientKey = leaf("client", 3, x509.ExtKeyUsageClientAuth)
	return p
}

func writePEM(t *testing.T, path, typ string, der []byte) {
	t.Helper()
	if err := os.WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
}

// startNATSWith starts an in-process JetStream server on 127.0.0.1 with
// extra options (TLS, NKey users), shut down at the end of the test.
func startNATSWith(t *testing.T, storeDir string, set func(*server.Options)) *server.Server {
	t.Helper()
	return natstest.Start(t, storeDir, set)
}

// hubMakesStream runs a hub with auth's options against url and waits
// until it has made the stream (it connected and JetStream answered).
func hubMakesStream(t *testing.T, data, url string, auth collector.NATSAuth, check ...nats.Option) {
	t.Helper()
	opts, err := auth.Options()
	if err != nil {
		t.Fatal(err)
	}
	hub := startHub(t, data, url, collector.HubConfig{Options: opts})
	defer func() {
		if err := hub.stop(); err != nil {
			t.Error(err)
		}
	}()
	nc, err := nats.Connect(url, append(opts, check...)...)
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	js, _ := jetstream.New(nc)
	waitLong(t, "the hub makes the stream", func() bool {
		_, err := js.Stream(context.Background(), collector.HubStream)
		return err == nil
	})
}

// TestHubTLS: a server that requires a client certificate signed by
// the test CA: the hub with ca_file, cert_file and key_file connects
// and makes its stream; a client without the certificate is refused;
// a certificate without its key is refused before connecting.
func TestHubTLS(t *testing.T) {
	tmp := t.TempDir()
	pki := newTestPKI(t, tmp)
	tc, err := server.GenTLSConfig(&server.TLSConfigOpts{CertFile: pki.serverCert, KeyFile: pki.serverKey, CaFile: pki.ca, Verify: true})
	if err != nil {
		t.Fatal(err)
	}
	srv := startNATSWith(t, filepath.Join(tmp, "js"), func(o *server.Options) { o.TLS, o.TLSConfig, o.TLSVerify = true, tc, true })
	url := fmt.Sprintf("tls://127.0.0.1:%d", srv.Addr().(*net.TCPAddr).Port)
	hubMakesStream(t, filepath.Join(tmp, "hub"), url, collector.NATSAuth{CAFile: pki.ca, CertFile: pki.clientCert, KeyFile: pki.clientKey})

	if nc, err := nats.Connect(url, nats.RootCAs(pki.ca)); err == nil {
		nc.Close()
		t.Error("a client without a certificate was let in: the test server does not require one")
	}
	if _, err := (collector.NATSAuth{CertFile: pki.clientCert}).Options(); err == nil || !strings.Contains(err.Error(), "cert_file and key_file") {
		t.Errorf("a certificate without its key: %v", err)
	}
	if _, err := (collector.NATSAuth{CAFile: filepath.Join(tmp, "missing.pem")}).Options(); err == nil || !strings.Contains(err.Error(), "ca_file") {
		t.Errorf("a missing CA file: %v", err)
	}
}

// TestHubNKey: a server that admits one NKey user: the hub with its
// seed (nkey_file) connects and makes its stream; a client without it
// is refused; a file that is not a seed is an error naming nkey_file.
func TestHubNKey(t *testing.T) {
	tmp := t.TempDir()
	srv, seedFile := natstest.StartNKey(t, tmp)
	url := srv.ClientURL()
	hubMakesStream(t, filepath.Join(tmp, "hub"), url, collector.NATSAuth{NKeyFile: seedFile})

	if nc, err := nats.Connect(url); err == nil {
		nc.Close()
		t.Error("a client without the NKey was let in: the test server does not require one")
	}
	bad := filepath.Join(tmp, "bad.nk")
	if err := os.WriteFile(bad, []byte("not a seed\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := (collector.NATSAuth{NKeyFile: bad}).Options(); err == nil || !strings.Contains(err.Error(), "nkey_file") {
		t.Errorf("a file that is not a seed: %v", err)
	}
}
