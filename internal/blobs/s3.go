// Package blobs keeps attachment streams, already sealed by the envelope
// store, as objects in an S3-compatible bucket (github.com/minio/minio-go),
// so that the database and its backups stop growing with the files.
// Object names are data key ids: no PHI, and nothing a name says beyond
// "one attachment's ciphertext".
package blobs

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/url"
	"strings"

	"github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/credentials"
)

// partSize is what an upload holds in memory at a time: S3's multipart
// minimum is 5 MiB, and a stream's length is not known before its end.
const partSize = 5 << 20

// S3 is a bucket.
type S3 struct {
	client *minio.Client
	bucket string
}

// OpenS3 connects to the bucket that rawURL names:
// s3://BUCKET?endpoint=http://HOST:PORT&region=REGION (endpoint defaults
// to AWS's). It does not contact the server; Check does.
func OpenS3(rawURL, accessKey, secretKey string) (*S3, error) {
	u, err := url.Parse(rawURL)
	if err != nil || u.Scheme != "s3" || u.Host == "" {
		return nil, errors.New("blobs: PORTAL_BLOB_URL must be postgres or s3://BUCKET?endpoint=http://HOST:PORT&region=REGION")
	}
	if accessKey == "" || secretKey == "" {
		return nil, errors.New("blobs: an s3:// PORTAL_BLOB_URL needs AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY (or their _FILE forms)")
	}
	endpoint, secure := "s3.amazonaws.com", true
	if e := u.Query().Get("endpoint"); e != "" {
		eu, err := url.Parse(e)
		if err != nil || (eu.Scheme != "http" && eu.Scheme != "https") || eu.Host == "" {
			return nil, fmt.Errorf("blobs: PORTAL_BLOB_URL endpoint %q must be http://HOST:PORT or https://HOST", e)
		}
		endpoint, secure = eu.Host, eu.Scheme == "https"
	}
	client, err := minio.New(endpoint, &minio.Options{
		Creds:        credentials.NewStaticV4(accessKey, secretKey, ""),
		Secure:       secure,
		Region:       u.Query().Get("region"),
		BucketLookup: minio.BucketLookupPath,
		// Someone is waiting on the page: a few quick retries, then the
		// portal's busy page, rather than ten with back-off (about 8 s to
		// a refused connection).
		MaxRetries: 3,
	})
	if err != nil {
		return nil, fmt.Errorf("blobs: %w", err)
	}
	return &S3{client: client, bucket: u.Host}, nil
}

// Check reports whether the bucket answers and exists.
func (s *S3) Check(ctx context.Context) error {
	ok, err := s.client.BucketExists(ctx, s.bucket)
	if err != nil {
		return fmt.Errorf("blobs: bucket %s: %w", s.bucket, err)
	}
	if !ok {
		return fmt.Errorf("blobs: bucket %s does not exist", s.bucket)
	}
	return nil
}

// Put stores everything r yields as object name, in parts, so memory
// stays at one part whatever the size.
func (s *S3) Put(ctx context.Context, name string, r io.Reader) error {
	_, err := s.client.PutObject(ctx, s.bucket, name, r, -1, minio.PutObjectOptions{PartSize: partSize, ContentType: "application/octet-stream"})
	if err != nil {
		return fmt.Errorf("blobs: put %s: %w", name, err)
	}
	return nil
}

// Get streams object name. A missing object fails on the first Read.
func (s *S3) Get(ctx context.Context, name string) (io.ReadCloser, error) {
	obj, err := s.client.GetObject(ctx, s.bucket, name, minio.GetObjectOptions{})
	if err != nil {
		return nil, fmt.Errorf("blobs: get %s: %w", name, err)
	}
	return obj, nil
}

// Delete removes object name; a missing one is no error.
func (s *S3) Delete(ctx context.Context, name string) error {
	if err := s.client.RemoveObject(ctx, s.bucket, name, minio.RemoveObjectOptions{}); err != nil {
		return fmt.Errorf("blobs: delete %s: %w", name, err)
	}
	return nil
}

// Exists reports whether object name is there (for tests and checks).
func (s *S3) Exists(ctx context.Context, name string) (bool, error) {
	_, err := s.client.StatObject(ctx, s.bucket, name, minio.StatObjectOptions{})
	if err == nil {
		return true, nil
	}
	if strings.Contains(minio.ToErrorResponse(err).Code, "NoSuchKey") {
		return false, nil
	}
	return false, fmt.Errorf("blobs: stat %s: %w", name, err)
}

// MakeBucket creates the bucket (tests, first set-up).
func (s *S3) MakeBucket(ctx context.Context) error {
	return s.client.MakeBucket(ctx, s.bucket, minio.MakeBucketOptions{})
}
