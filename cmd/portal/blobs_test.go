package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"fmt"
	"io"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/healthnet/secureportal/internal/blobs/blobstest"
	"github.com/healthnet/secureportal/internal/envelope"
	"github.com/healthnet/secureportal/internal/pgtest"
	"github.com/healthnet/secureportal/internal/postgres"
)

// `portal blobs migrate` moves a populated store's attachment streams
// from data_chunks to a real S3 server, and resumes (here: finds nothing
// left); afterwards every stream reads back through the bucket as the
// portal reads it.
func TestBlobsMigrateMovesEveryStreamToTheBucket(t *testing.T) {
	srv := blobstest.Start(t)
	bucket := srv.Bucket(t, "attachments")
	url := pgtest.New(t)
	getenv, path := keysEnv(t, url)
	kr := initKeyring(t, getenv, path)
	pool := testPool(t, url)
	ctx := context.Background()
	store := postgres.NewDataKeys(pool, kr, 4, nil)
	owner := func(i int) (postgres.Owner, envelope.Binding) {
		return postgres.Owner{Kind: "attachment-data", ID: fmt.Sprint(i)},
			envelope.Binding{Purpose: "attachment-data", Table: "data_chunks", Column: "ct", RowID: fmt.Sprint(i)}
	}
	var ids []string
	var contents [][]byte
	for i, size := range []int{0, 100 << 10, 1<<20 + 7} {
		data := make([]byte, size)
		rand.Read(data)
		o, b := owner(i)
		err := pgx.BeginFunc(ctx, pool, func(tx pgx.Tx) error {
			id, _, err := store.WriteStream(ctx, tx, o, b, bytes.NewReader(data), 2<<20)
			ids = append(ids, id)
			return err
		})
		if err != nil {
			t.Fatal(err)
		}
		contents = append(contents, data)
	}
	env := map[string]string{"PORTAL_BLOB_URL": srv.URL("attachments"), "AWS_ACCESS_KEY_ID": blobstest.Access, "AWS_SECRET_ACCESS_KEY": blobstest.Secret}
	withBucket := func(k string) string {
		if v, ok := env[k]; ok {
			return v
		}
		return getenv(k)
	}
	var out bytes.Buffer
	if err := cmdBlobs(ctx, []string{"migrate"}, withBucket, &out, io.Discard); err != nil || !strings.Contains(out.String(), "moved 3 streams") {
		t.Fatalf("blobs migrate: %v\n%s", err, out.String())
	}
	var chunks, objects int
	pool.QueryRow(ctx, `SELECT (SELECT count(*) FROM data_chunks), (SELECT count(*) FROM stream_objects)`).Scan(&chunks, &objects)
	if chunks != 0 || objects != 3 {
		t.Errorf("after the move: %d chunk rows, %d objects; want 0 and 3", chunks, objects)
	}
	out.Reset()
	if err := cmdBlobs(ctx, []string{"migrate"}, withBucket, &out, io.Discard); err != nil || !strings.Contains(out.String(), "moved 0 streams") {
		t.Errorf("a second run: %v\n%s", err, out.String())
	}
	store.UseBlobs(bucket)
	for i, id := range ids {
		o, b := owner(i)
		rc, err := store.OpenStream(ctx, id, o, b)
		if err != nil {
			t.Fatal(err)
		}
		got, err := io.ReadAll(rc)
		rc.Close()
		if err != nil || !bytes.Equal(got, contents[i]) {
			t.Errorf("stream %d after the move: %d bytes, %v; want the %d bytes written", i, len(got), err, len(contents[i]))
		}
	}
}
