// Command gotiles checks attestgate's tlog-tiles against Go's golang.org/x/mod/sumdb/tlog.
//
//	gotiles gen SIZE...          print JSON vectors: for leaves "leaf <i>" (i < max SIZE),
//	                             every tile and entry bundle of each tree SIZE and its root
//	gotiles check DIR SIZE ROOT  read the tiles of tree SIZE from DIR (C2SP paths
//	                             tile/<L>/<N>[.p/<W>] and tile/entries/...), authenticate
//	                             them against ROOT (base64) with tlog.TileHashReader, recompute
//	                             every leaf hash from the entry bundles, prove every record
//	                             and the tree from sizes 1..SIZE-1; print "ok"
//
// Built offline in GOPATH mode against Debian's golang-golang-x-mod-dev:
//
//	GO111MODULE=off GOPATH=/usr/share/gocode go run main.go gen 1 255 256 257 773
package main

import (
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"golang.org/x/mod/sumdb/tlog"
)

const height = 8

// c2spPath turns Go's sumdb path tile/8/L/N or tile/8/data/N into the C2SP one.
func c2spPath(t tlog.Tile) string {
	p := strings.TrimPrefix(t.Path(), "tile/8/")
	p = strings.Replace(p, "data/", "entries/", 1)
	return "tile/" + p
}

func leaf(i int64) []byte { return []byte(fmt.Sprintf("leaf %d", i)) }

type memHashes []tlog.Hash

func (m memHashes) ReadHashes(idx []int64) ([]tlog.Hash, error) {
	out := make([]tlog.Hash, len(idx))
	for i, x := range idx {
		if x >= int64(len(m)) {
			return nil, fmt.Errorf("hash %d not stored", x)
		}
		out[i] = m[x]
	}
	return out, nil
}

func gen(sizes []int64) error {
	var maxN int64
	for _, n := range sizes {
		if n > maxN {
			maxN = n
		}
	}
	var stored memHashes
	for i := int64(0); i < maxN; i++ {
		hs, err := tlog.StoredHashes(i, leaf(i), stored)
		if err != nil {
			return err
		}
		stored = append(stored, hs...)
	}
	type tree struct {
		Size  int64             `json:"size"`
		Root  string            `json:"root"`
		Tiles map[string]string `json:"tiles"`
	}
	var out []tree
	for _, n := range sizes {
		root, err := tlog.TreeHash(n, stored)
		if err != nil {
			return err
		}
		tr := tree{Size: n, Root: base64.StdEncoding.EncodeToString(root[:]), Tiles: map[string]string{}}
		for _, t := range tlog.NewTiles(height, 0, n) {
			if t.W != 1<<height && t.W != int((n>>(height*t.L))-t.N<<height) {
				continue // NewTiles lists every width; keep the one of this size
			}
			data, err := tlog.ReadTileData(t, stored)
			if err != nil {
				return err
			}
			tr.Tiles[c2spPath(t)] = base64.StdEncoding.EncodeToString(data)
			if t.L == 0 {
				var bundle []byte
				for i := t.N << height; i < t.N<<height+int64(t.W); i++ {
					bundle = binary.BigEndian.AppendUint16(bundle, uint16(len(leaf(i))))
					bundle = append(bundle, leaf(i)...)
				}
				d := t
				d.L = -1
				tr.Tiles[c2spPath(d)] = base64.StdEncoding.EncodeToString(bundle)
			}
		}
		out = append(out, tr)
	}
	enc := json.NewEncoder(os.Stdout)
	enc.SetIndent("", " ")
	return enc.Encode(out)
}

type dirTiles string

func (d dirTiles) Height() int { return height }

func (d dirTiles) ReadTiles(tiles []tlog.Tile) ([][]byte, error) {
	out := make([][]byte, len(tiles))
	for i, t := range tiles {
		data, err := os.ReadFile(filepath.Join(string(d), filepath.FromSlash(c2spPath(t))))
		if err != nil {
			return nil, err
		}
		out[i] = data
	}
	return out, nil
}

func (d dirTiles) SaveTiles([]tlog.Tile, [][]byte) {}

func check(dir string, n int64, rootB64 string) error {
	raw, err := base64.StdEncoding.DecodeString(rootB64)
	if err != nil || len(raw) != tlog.HashSize {
		return fmt.Errorf("bad root")
	}
	var root tlog.Hash
	copy(root[:], raw)
	reader := tlog.TileHashReader(tlog.Tree{N: n, Hash: root}, dirTiles(dir))
	th, err := tlog.TreeHash(n, reader)
	if err != nil {
		return err
	}
	if th != root {
		return fmt.Errorf("tree hash %v, want %v", th, root)
	}
	// Every entry hashes to its leaf hash in the authenticated level-0 tiles.
	for start := int64(0); start < n; start += 1 << height {
		w := n - start
		if w > 1<<height {
			w = 1 << height
		}
		t := tlog.Tile{H: height, L: -1, N: start >> height, W: int(w)}
		data, err := os.ReadFile(filepath.Join(dir, filepath.FromSlash(c2spPath(t))))
		if err != nil {
			return err
		}
		for i := start; i < start+w; i++ {
			if len(data) < 2 {
				return fmt.Errorf("bundle %s truncated", c2spPath(t))
			}
			l := int(binary.BigEndian.Uint16(data))
			if len(data) < 2+l {
				return fmt.Errorf("bundle %s truncated", c2spPath(t))
			}
			rh := tlog.RecordHash(data[2 : 2+l])
			data = data[2+l:]
			hs, err := reader.ReadHashes([]int64{tlog.StoredHashIndex(0, i)})
			if err != nil {
				return err
			}
			if hs[0] != rh {
				return fmt.Errorf("entry %d does not hash to its level-0 tile hash", i)
			}
			p, err := tlog.ProveRecord(n, i, reader)
			if err != nil {
				return err
			}
			if err := tlog.CheckRecord(p, n, root, i, rh); err != nil {
				return fmt.Errorf("record %d: %v", i, err)
			}
		}
		if len(data) != 0 {
			return fmt.Errorf("bundle %s has extra bytes", c2spPath(t))
		}
	}
	for m := int64(1); m < n; m++ {
		old, err := tlog.TreeHash(m, reader)
		if err != nil {
			return err
		}
		p, err := tlog.ProveTree(n, m, reader)
		if err != nil {
			return err
		}
		if err := tlog.CheckTree(p, n, root, m, old); err != nil {
			return fmt.Errorf("tree %d: %v", m, err)
		}
	}
	fmt.Println("ok")
	return nil
}

func main() {
	var err error
	switch {
	case len(os.Args) >= 3 && os.Args[1] == "gen":
		var sizes []int64
		for _, a := range os.Args[2:] {
			n, e := strconv.ParseInt(a, 10, 64)
			if e != nil {
				fmt.Fprintln(os.Stderr, e)
				os.Exit(2)
			}
			sizes = append(sizes, n)
		}
		err = gen(sizes)
	case len(os.Args) == 5 && os.Args[1] == "check":
		n, e := strconv.ParseInt(os.Args[3], 10, 64)
		if e != nil {
			fmt.Fprintln(os.Stderr, e)
			os.Exit(2)
		}
		err = check(os.Args[2], n, os.Args[4])
	default:
		fmt.Fprintln(os.Stderr, "usage: gotiles gen SIZE... | gotiles check DIR SIZE ROOT")
		os.Exit(2)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "gotiles:", err)
		os.Exit(1)
	}
}
