// Command gen writes go_formats_cosignature_v1.json: Ed25519 cosignature/v1 vectors computed by
// Go, independently of attestgate's Python code.
//
// The cosignature/v1 signer below is the Ed25519 part of github.com/transparency-dev/formats
// note/note_cosigv1.go (commit 0b850f1a7b4a5b70deeacac6535e4b8023809d21, BSD-3-Clause,
// Copyright 2023 The Go Authors), used with golang.org/x/mod/sumdb/note's Sign and Open.
// Run (Go and golang.org/x/mod in GOPATH, e.g. Debian's golang-go and golang-golang-x-mod-dev):
//
//	GO111MODULE=off GOPATH=/usr/share/gocode go run ./tests/vectors/cosignature/gen > tests/vectors/cosignature/go_formats_cosignature_v1.json
package main

import (
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"os"
	"strings"

	"golang.org/x/mod/sumdb/note"
)

const algEd25519CosignatureV1 = 4

func keyHash(name string, key []byte) uint32 {
	h := sha256.New()
	h.Write([]byte(name))
	h.Write([]byte("\n"))
	h.Write(key)
	return binary.BigEndian.Uint32(h.Sum(nil))
}

func formatEd25519CosignatureV1(t uint64, msg []byte) []byte {
	return []byte(fmt.Sprintf("cosignature/v1\ntime %d\n%s", t, msg))
}

type signer struct {
	name string
	hash uint32
	key  ed25519.PrivateKey
	t    uint64
}

func (s *signer) Name() string    { return s.name }
func (s *signer) KeyHash() uint32 { return s.hash }
func (s *signer) Sign(msg []byte) ([]byte, error) {
	sig := make([]byte, 0, 8+ed25519.SignatureSize)
	sig = binary.BigEndian.AppendUint64(sig, s.t)
	return append(sig, ed25519.Sign(s.key, formatEd25519CosignatureV1(s.t, msg))...), nil
}

type verifier struct {
	name string
	hash uint32
	pub  ed25519.PublicKey
}

func (v *verifier) Name() string    { return v.name }
func (v *verifier) KeyHash() uint32 { return v.hash }
func (v *verifier) Verify(msg, sig []byte) bool {
	if len(sig) != 8+ed25519.SignatureSize {
		return false
	}
	t := binary.BigEndian.Uint64(sig)
	return ed25519.Verify(v.pub, formatEd25519CosignatureV1(t, msg), sig[8:])
}

type vector struct {
	Name            string `json:"name"`
	Skey            string `json:"skey"`
	Vkey            string `json:"vkey"`
	Timestamp       uint64 `json:"timestamp"`
	CheckpointText  string `json:"checkpoint_text"`
	CosignatureLine string `json:"cosignature_line"`
	CosignedNote    string `json:"cosigned_note"`
}

func main() {
	// The log: golang.org/x/mod/sumdb/note's PeterNeumann key from note_test.go.
	logSkey := "PRIVATE+KEY+PeterNeumann+c74f20a3+AYEKFALVFGyNhPJEMzD1QIDr+Y7hfZx09iUvxdXHKDFz"
	logSigner, err := note.NewSigner(logSkey)
	if err != nil {
		panic(err)
	}
	cases := []struct {
		name, witness, text string
		seed                byte
		t                   uint64
	}{
		{"sofa", "witness.example.com/w1", "example.com/behind-the-sofa\n20852163\nCsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=\n", 1, 1679315147},
		{"extension-line", "bank.example/witness", "PeterNeumann\n8\n47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=\nextension line\n", 7, 1764892800},
	}
	var out []vector
	for _, c := range cases {
		seed := make([]byte, ed25519.SeedSize)
		for i := range seed {
			seed[i] = c.seed + byte(i)
		}
		priv := ed25519.NewKeyFromSeed(seed)
		pub := append([]byte{algEd25519CosignatureV1}, priv.Public().(ed25519.PublicKey)...)
		h := keyHash(c.witness, pub)
		skey := fmt.Sprintf("PRIVATE+KEY+%s+%08x+%s", c.witness, h, base64.StdEncoding.EncodeToString(append([]byte{algEd25519CosignatureV1}, seed...)))
		vkey := fmt.Sprintf("%s+%08x+%s", c.witness, h, base64.StdEncoding.EncodeToString(pub))
		w := &signer{c.witness, h, priv, c.t}
		signers := []note.Signer{w}
		if strings.HasPrefix(c.text, "PeterNeumann\n") {
			signers = []note.Signer{logSigner, w}
		}
		msg, err := note.Sign(&note.Note{Text: c.text}, signers...)
		if err != nil {
			panic(err)
		}
		v := &verifier{c.witness, h, priv.Public().(ed25519.PublicKey)}
		if _, err := note.Open(msg, note.VerifierList(v)); err != nil {
			panic(err)
		}
		sigs := strings.SplitAfter(strings.SplitN(string(msg), "\n\n", 2)[1], "\n")
		line := ""
		for _, s := range sigs {
			if strings.HasPrefix(s, "— "+c.witness+" ") {
				line = s
			}
		}
		out = append(out, vector{c.name, skey, vkey, c.t, c.text, line, string(msg)})
	}
	enc := json.NewEncoder(os.Stdout)
	enc.SetIndent("", "  ")
	enc.SetEscapeHTML(false)
	if err := enc.Encode(out); err != nil {
		panic(err)
	}
}
