//go:build !unix

package transcode

func lowerPriority(int) {}
