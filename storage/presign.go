package storage

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"sort"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
	"github.com/aws/smithy-go"
)

// Direct uploads: a browser PUTs a file straight into the bucket through presigned URLs, in one
// request or as a multipart upload (each part its own presigned UploadPart URL); the server then
// checks what arrived and completes (or aborts) it. Keys are store keys (the prefix is added).

// Part is one uploaded part of a multipart upload.
type Part struct {
	Number int32  `json:"number"`
	ETag   string `json:"etag"`
	Size   int64  `json:"size,omitempty"`
}

// PresignPut returns a URL that stores exactly size bytes under key until ttl has passed.
func (s *S3) PresignPut(ctx context.Context, key string, size int64, ttl time.Duration) (string, error) {
	if err := checkKey(key); err != nil {
		return "", err
	}
	req, err := s3.NewPresignClient(s.client, s3.WithPresignExpires(ttl)).PresignPutObject(ctx, &s3.PutObjectInput{
		Bucket: aws.String(s.p.Bucket), Key: aws.String(s.p.Prefix + key), ContentLength: aws.Int64(size),
	})
	if err != nil {
		return "", fmt.Errorf("storage: s3 presign %s: %w", key, err)
	}
	return req.URL, nil
}

// CreateMultipart starts a multipart upload of key and returns its upload id.
func (s *S3) CreateMultipart(ctx context.Context, key string) (string, error) {
	if err := checkKey(key); err != nil {
		return "", err
	}
	out, err := s.client.CreateMultipartUpload(ctx, &s3.CreateMultipartUploadInput{
		Bucket: aws.String(s.p.Bucket), Key: aws.String(s.p.Prefix + key), ContentType: aws.String(ContentType(key)),
	})
	if err != nil {
		return "", fmt.Errorf("storage: s3 create multipart %s: %w", key, err)
	}
	return aws.ToString(out.UploadId), nil
}

// PresignPart returns a URL that uploads part n (1-based) of exactly size bytes until ttl.
func (s *S3) PresignPart(ctx context.Context, key, uploadID string, n int32, size int64, ttl time.Duration) (string, error) {
	req, err := s3.NewPresignClient(s.client, s3.WithPresignExpires(ttl)).PresignUploadPart(ctx, &s3.UploadPartInput{
		Bucket: aws.String(s.p.Bucket), Key: aws.String(s.p.Prefix + key), UploadId: aws.String(uploadID),
		PartNumber: aws.Int32(n), ContentLength: aws.Int64(size),
	})
	if err != nil {
		return "", fmt.Errorf("storage: s3 presign part %d of %s: %w", n, key, err)
	}
	return req.URL, nil
}

// ListParts returns the parts uploaded so far, by number; ErrNotFound when the upload is gone.
func (s *S3) ListParts(ctx context.Context, key, uploadID string) ([]Part, error) {
	var out []Part
	pg := s3.NewListPartsPaginator(s.client, &s3.ListPartsInput{Bucket: aws.String(s.p.Bucket), Key: aws.String(s.p.Prefix + key), UploadId: aws.String(uploadID)})
	for pg.HasMorePages() {
		page, err := pg.NextPage(ctx)
		if err != nil {
			if notFound(err) {
				return nil, fmt.Errorf("%w: upload of %s", ErrNotFound, key)
			}
			return nil, fmt.Errorf("storage: s3 list parts %s: %w", key, err)
		}
		for _, p := range page.Parts {
			out = append(out, Part{Number: aws.ToInt32(p.PartNumber), ETag: aws.ToString(p.ETag), Size: aws.ToInt64(p.Size)})
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Number < out[j].Number })
	return out, nil
}

// CompleteMultipart assembles the parts into the object.
func (s *S3) CompleteMultipart(ctx context.Context, key, uploadID string, parts []Part) error {
	var cp []types.CompletedPart
	for _, p := range parts {
		cp = append(cp, types.CompletedPart{PartNumber: aws.Int32(p.Number), ETag: aws.String(p.ETag)})
	}
	_, err := s.client.CompleteMultipartUpload(ctx, &s3.CompleteMultipartUploadInput{
		Bucket: aws.String(s.p.Bucket), Key: aws.String(s.p.Prefix + key), UploadId: aws.String(uploadID),
		MultipartUpload: &types.CompletedMultipartUpload{Parts: cp},
	})
	if err != nil {
		return fmt.Errorf("storage: s3 complete multipart %s: %w", key, err)
	}
	return nil
}

// AbortMultipart discards a multipart upload and its parts (gone already is not an error).
func (s *S3) AbortMultipart(ctx context.Context, key, uploadID string) error {
	_, err := s.client.AbortMultipartUpload(ctx, &s3.AbortMultipartUploadInput{
		Bucket: aws.String(s.p.Bucket), Key: aws.String(s.p.Prefix + key), UploadId: aws.String(uploadID),
	})
	if err != nil && !notFound(err) {
		return fmt.Errorf("storage: s3 abort multipart %s: %w", key, err)
	}
	return nil
}

// Size is the size of the object at key; ErrNotFound when there is none.
func (s *S3) Size(ctx context.Context, key string) (int64, error) {
	if err := checkKey(key); err != nil {
		return 0, err
	}
	out, err := s.client.HeadObject(ctx, &s3.HeadObjectInput{Bucket: aws.String(s.p.Bucket), Key: aws.String(s.p.Prefix + key)})
	if err != nil {
		if notFound(err) {
			return 0, fmt.Errorf("%w: %s", ErrNotFound, key)
		}
		return 0, fmt.Errorf("storage: s3 head %s: %w", key, err)
	}
	return aws.ToInt64(out.ContentLength), nil
}

func notFound(err error) bool {
	var nsk *types.NoSuchKey
	var nsu *types.NoSuchUpload
	var nf *types.NotFound
	var api smithy.APIError
	if errors.As(err, &nsk) || errors.As(err, &nsu) || errors.As(err, &nf) {
		return true
	}
	if errors.As(err, &api) {
		switch api.ErrorCode() {
		case "NotFound", "NoSuchKey", "NoSuchUpload":
			return true
		}
	}
	var re interface{ HTTPStatusCode() int }
	return errors.As(err, &re) && re.HTTPStatusCode() == http.StatusNotFound
}
