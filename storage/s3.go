package storage

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
	awsconfig "github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/feature/s3/manager"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
	"github.com/aws/smithy-go"
)

// S3Params configures an S3 store. Credentials come from AccessKey/SecretKey when set, else
// from the usual AWS chain (AWS_ACCESS_KEY_ID, shared config, instance role).
type S3Params struct {
	Bucket    string
	Prefix    string // prepended to every key, e.g. "vod/"
	Region    string // default "us-east-1"
	Endpoint  string // e.g. "http://127.0.0.1:7070" for MinIO/versitygw; empty = AWS
	PathStyle bool   // bucket in the path, not the host name (most S3-compatible servers)
	// PublicURL is the base URL players fetch objects from (CDN or bucket URL). Empty means
	// Endpoint/Bucket (path style) or https://Bucket.s3.Region.amazonaws.com.
	PublicURL string
	AccessKey string
	SecretKey string
	// MaxAttempts per request, with exponential backoff (default 5).
	MaxAttempts int
	// PartSize of multipart uploads (default 16 MiB; files above it are uploaded in parts).
	PartSize int64
}

// S3 stores objects in a bucket.
type S3 struct {
	p      S3Params
	client *s3.Client
	up     *manager.Uploader
}

// NewS3 builds the client; it does not contact the server.
func NewS3(ctx context.Context, p S3Params) (*S3, error) {
	if p.Bucket == "" {
		return nil, errors.New("storage: s3: empty bucket")
	}
	if p.Region == "" {
		p.Region = "us-east-1"
	}
	if p.MaxAttempts <= 0 {
		p.MaxAttempts = 5
	}
	if p.PartSize <= 0 {
		p.PartSize = 16 << 20
	}
	if p.Prefix != "" && !strings.HasSuffix(p.Prefix, "/") {
		p.Prefix += "/"
	}
	opts := []func(*awsconfig.LoadOptions) error{
		awsconfig.WithRegion(p.Region),
		awsconfig.WithRetryer(func() aws.Retryer {
			return retry.NewStandard(func(o *retry.StandardOptions) {
				o.MaxAttempts = p.MaxAttempts
				o.MaxBackoff = 5 * time.Second
			})
		}),
	}
	if p.AccessKey != "" {
		opts = append(opts, awsconfig.WithCredentialsProvider(credentials.NewStaticCredentialsProvider(p.AccessKey, p.SecretKey, "")))
	}
	cfg, err := awsconfig.LoadDefaultConfig(ctx, opts...)
	if err != nil {
		return nil, fmt.Errorf("storage: s3: %w", err)
	}
	plainHTTP := strings.HasPrefix(p.Endpoint, "http://")
	client := s3.NewFromConfig(cfg, func(o *s3.Options) {
		if p.Endpoint != "" {
			o.BaseEndpoint = aws.String(p.Endpoint)
		}
		o.UsePathStyle = p.PathStyle
		o.RequestChecksumCalculation = aws.RequestChecksumCalculationWhenRequired
		o.ResponseChecksumValidation = aws.ResponseChecksumValidationWhenRequired
		if plainHTTP {
			// Non-seekable bodies cannot be hashed up front over plain HTTP: sign as unsigned payload.
			o.APIOptions = append(o.APIOptions, v4.SwapComputePayloadSHA256ForUnsignedPayloadMiddleware)
		}
	})
	up := manager.NewUploader(client, func(u *manager.Uploader) { u.PartSize = p.PartSize })
	return &S3{p: p, client: client, up: up}, nil
}

// Client is the underlying S3 client (tests create buckets with it).
func (s *S3) Client() *s3.Client { return s.client }

// Put implements Storage (multipart above PartSize).
func (s *S3) Put(ctx context.Context, key string, r io.Reader, _ int64) error {
	if err := checkKey(key); err != nil {
		return err
	}
	_, err := s.up.Upload(ctx, &s3.PutObjectInput{
		Bucket: aws.String(s.p.Bucket), Key: aws.String(s.p.Prefix + key), Body: r,
		ContentType: aws.String(ContentType(key)), CacheControl: aws.String(CacheControl(key)),
	})
	if err != nil {
		return fmt.Errorf("storage: s3 put %s: %w", key, err)
	}
	return nil
}

// Get implements Storage.
func (s *S3) Get(ctx context.Context, key string) (io.ReadCloser, error) {
	if err := checkKey(key); err != nil {
		return nil, err
	}
	out, err := s.client.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String(s.p.Bucket), Key: aws.String(s.p.Prefix + key)})
	if err != nil {
		var nsk *types.NoSuchKey
		var api smithy.APIError
		if errors.As(err, &nsk) || (errors.As(err, &api) && (api.ErrorCode() == "NotFound" || api.ErrorCode() == "NoSuchKey")) {
			return nil, fmt.Errorf("%w: %s", ErrNotFound, key)
		}
		var re interface{ HTTPStatusCode() int }
		if errors.As(err, &re) && re.HTTPStatusCode() == http.StatusNotFound {
			return nil, fmt.Errorf("%w: %s", ErrNotFound, key)
		}
		return nil, fmt.Errorf("storage: s3 get %s: %w", key, err)
	}
	return out.Body, nil
}

// DeletePrefix implements Storage.
func (s *S3) DeletePrefix(ctx context.Context, prefix string) error {
	if err := checkKey(strings.TrimSuffix(prefix, "/")); err != nil {
		return err
	}
	pg := s3.NewListObjectsV2Paginator(s.client, &s3.ListObjectsV2Input{Bucket: aws.String(s.p.Bucket), Prefix: aws.String(s.p.Prefix + prefix)})
	for pg.HasMorePages() {
		page, err := pg.NextPage(ctx)
		if err != nil {
			return fmt.Errorf("storage: s3 list %s: %w", prefix, err)
		}
		for _, o := range page.Contents {
			// One by one: DeleteObjects needs Content-MD5, which not every S3-compatible server accepts.
			if _, err := s.client.DeleteObject(ctx, &s3.DeleteObjectInput{Bucket: aws.String(s.p.Bucket), Key: o.Key}); err != nil {
				return fmt.Errorf("storage: s3 delete %s: %w", aws.ToString(o.Key), err)
			}
		}
	}
	return nil
}

// URL implements Storage.
func (s *S3) URL(key string) string {
	base := s.p.PublicURL
	switch {
	case base != "":
	case s.p.Endpoint != "":
		base = strings.TrimRight(s.p.Endpoint, "/") + "/" + s.p.Bucket
	default:
		base = "https://" + s.p.Bucket + ".s3." + s.p.Region + ".amazonaws.com"
	}
	return strings.TrimRight(base, "/") + "/" + s.p.Prefix + key
}
