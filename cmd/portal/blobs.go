package main

import (
	"context"
	"flag"
	"fmt"
	"io"

	"github.com/healthnet/secureportal/internal/blobs"
	"github.com/healthnet/secureportal/internal/postgres"
)

const blobsUsage = `Usage: portal blobs migrate [--to s3://BUCKET?endpoint=...&region=...]

Moves every attachment stream still in PostgreSQL (data_chunks) to the bucket
(default: PORTAL_BLOB_URL), copying the ciphertext as it is, reading it back to
compare, then deleting the rows; resumable, safe while the portal runs.
Credentials: AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY (or their _FILE forms).
Set PORTAL_BLOB_URL on every portal first, so new files go to the bucket too.`

// cmdBlobs runs `portal blobs ...`: moving attachments to object storage
// (issue 17).
func cmdBlobs(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	if len(args) == 0 || args[0] != "migrate" {
		if len(args) > 0 && (args[0] == "help" || args[0] == "-h" || args[0] == "--help") {
			fmt.Fprintln(stdout, blobsUsage)
			return nil
		}
		return usageError{blobsUsage}
	}
	set := flag.NewFlagSet("portal blobs migrate", flag.ContinueOnError)
	set.SetOutput(io.Discard)
	to := set.String("to", "", "the bucket's URL (default PORTAL_BLOB_URL)")
	if err := set.Parse(args[1:]); err != nil || set.NArg() != 0 {
		return usageError{fmt.Sprintf("portal blobs migrate: bad arguments\n\n%s", blobsUsage)}
	}
	cfg, log, pool, _, err := setup(ctx, getenv, stderr)
	if err != nil {
		return err
	}
	defer pool.Close()
	target := *to
	if target == "" {
		target = cfg.Blobs.URL
	}
	bucket, err := blobs.OpenS3(target, cfg.Blobs.AccessKey, cfg.Blobs.SecretKey)
	if err != nil {
		return err
	}
	if err := bucket.Check(ctx); err != nil {
		return fmt.Errorf("blobs migrate: %w", err)
	}
	k, err := openKEKs(ctx, cfg, pool)
	if err != nil {
		return err
	}
	defer k.close()
	keys := postgres.NewDataKeys(pool, k.provider, 1, log)
	keys.UseBlobs(bucket)
	var total int64
	moved, err := keys.MoveStreamsToBlobs(ctx, func(moved int, n int64) {
		total += n
		if moved%100 == 0 {
			fmt.Fprintf(stdout, "moved %d streams (%d bytes of ciphertext)\n", moved, total)
		}
	})
	if err != nil {
		return fmt.Errorf("blobs migrate (run it again to resume): %w", err)
	}
	fmt.Fprintf(stdout, "moved %d streams (%d bytes of ciphertext); none is left in data_chunks\n", moved, total)
	return nil
}
