package collector

import (
	"errors"
	"fmt"
	"os"

	"github.com/nats-io/nats.go"
)

// NATSAuth are the TLS and authentication options of a NATS connection:
// a NATS group's (nats.go) and the hub's (config [hub], `smtpscope hub`
// flags --nats-ca, --nats-cert, --nats-key, --nats-creds, --nats-nkey).
type NATSAuth struct {
	CAFile    string `toml:"ca_file"`    // CA bundle verifying the servers (else the system's)
	CertFile  string `toml:"cert_file"`  // TLS client certificate (with KeyFile)
	KeyFile   string `toml:"key_file"`   // its key
	CredsFile string `toml:"creds_file"` // a JWT + NKey credentials file
	NKeyFile  string `toml:"nkey_file"`  // an NKey seed
}

// Options are the connection options for a; a file that cannot be read
// (or a certificate without its key) is an error naming the option.
func (a NATSAuth) Options() ([]nats.Option, error) {
	var o []nats.Option
	for _, f := range []struct{ name, path string }{{"ca_file", a.CAFile}, {"cert_file", a.CertFile}, {"key_file", a.KeyFile},
		{"creds_file", a.CredsFile}, {"nkey_file", a.NKeyFile}} {
		if f.path == "" {
			continue
		}
		if fh, err := os.Open(f.path); err != nil {
			return nil, fmt.Errorf("%s: %w", f.name, err)
		} else {
			fh.Close()
		}
	}
	if a.CAFile != "" {
		o = append(o, nats.RootCAs(a.CAFile))
	}
	if (a.CertFile == "") != (a.KeyFile == "") {
		return nil, errors.New("cert_file and key_file go together")
	}
	if a.CertFile != "" {
		o = append(o, nats.ClientCert(a.CertFile, a.KeyFile))
	}
	if a.CredsFile != "" {
		o = append(o, nats.UserCredentials(a.CredsFile))
	}
	if a.NKeyFile != "" {
		nk, err := nats.NkeyOptionFromSeed(a.NKeyFile)
		if err != nil {
			return nil, fmt.Errorf("nkey_file: %w", err)
		}
		o = append(o, nk)
	}
	return o, nil
}
