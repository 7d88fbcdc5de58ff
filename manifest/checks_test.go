package manifest

import (
	"errors"
	"os"
	"slices"
	"testing"
)

func TestShadows(t *testing.T) {
	st, err := Parse([]byte(secretHead + "data:\n  password: aHVudGVyMg==\n  user: YQ==\nstringData:\n  other: x\n  password: new\n"))
	if err != nil {
		t.Fatal(err)
	}
	sh := st.Secrets[0].Shadows()
	if len(sh) != 1 || sh[0].String() != "data.password (line 7) and stringData.password (line 11)" {
		t.Fatalf("got %v", sh)
	}
	err = st.CheckShadows()
	if !errors.Is(err, ErrBadInput) || err.Error() != `document 1 (Secret prod/db): bad input: the key "password" is under both data (line 7) and stringData (line 11)` {
		t.Fatalf("got %v", err)
	}
	if tw := st.Secrets[0].Twin(sh[0].StringData); tw != sh[0].Data {
		t.Fatalf("twin %v", tw)
	}
	if st, _ := Parse([]byte(secretHead + "data:\n  a: YQ==\nstringData:\n  b: x\n")); st.CheckShadows() != nil {
		t.Fatal("no shadow refused")
	}
}

func TestCommentLines(t *testing.T) {
	for _, tc := range []struct {
		src  string
		want []int
	}{
		{secretHead + "stringData:\n  a: b\n", nil},
		{secretHead + "stringData: # here\n  # old: password=Hunter2-old\n  a: b # trailing\n  c: \"x # not a comment\"\n  \"d #\": e#f\n  g: |\n    # content, not a comment\n  # after the block\n  h: i\n    # inside a plain scalar's lines? no: a comment line ends it\n# top level: not inside\ntype: Opaque\n",
			[]int{6, 7, 8, 13, 15}},
		{secretHead + "data: {a: YQ==, # c\n  b: Yg==}\n", []int{6}},
		{secretHead + "stringData:\n  a: b\n  # foot of stringData\n\n  # another\nother: x # not inside\n", []int{8, 10}},
	} {
		st, err := Parse([]byte(tc.src))
		if err != nil {
			t.Fatal(err)
		}
		if got := st.CommentLines(st.Secrets[0]); !slices.Equal(got, tc.want) {
			t.Errorf("%s\ngot %v, want %v", tc.src, got, tc.want)
		}
	}
	src, err := os.ReadFile("../testdata/manifests/styles.yaml")
	if err != nil {
		t.Fatal(err)
	}
	st, err := Parse(src)
	if err != nil {
		t.Fatal(err)
	}
	want := []int{12, 13, 23} // head, line and foot comments of data; none in stringData
	if got := st.CommentLines(st.Secrets[0]); !slices.Equal(got, want) {
		t.Errorf("styles.yaml: got %v, want %v", got, want)
	}
}
