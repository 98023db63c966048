package cli

import (
	"encoding/json"
	"strconv"
	"time"

	"github.com/berth-dev/berth/internal/output"
	"github.com/berth-dev/berth/internal/store"
)

// dfImageRow is an image's row in `system df -v`: named by its first tag,
// as docker names it there.
func dfImageRow(iu store.ImageUsage, noTrunc bool, now time.Time) imageRow {
	r := imageRows(iu.Image, noTrunc, now)[0]
	if len(iu.RepoTags) == 0 {
		r.Repository, r.Tag = "<none>", "<none>"
	} else if repo, tag, ok := splitRepoTag(iu.RepoTags[0]); ok {
		r.Repository, r.Tag = repo, tag
	}
	return r
}

// printDfVerboseJSON is `system df -v --format json`: one object, as
// docker 28 prints it ({"Images":[…],"Containers":[],"Volumes":[],
// "BuildCache":[…]}), each entry with the keys of docker's table columns
// (sorted, strings), full image IDs and an empty Digest as docker's.
func (a *app) printDfVerboseJSON(u *usage) error {
	now := time.Now()
	images := []imageRow{}
	for _, iu := range u.Images {
		r := dfImageRow(iu, true, now)
		r.Containers = strconv.Itoa(iu.Containers)
		r.Digest = ""
		r.SharedSize = output.HumanSize4(iu.SharedSize)
		r.UniqueSize = output.HumanSize4(iu.Size - iu.SharedSize)
		r.Size = output.HumanSize(iu.Size)
		images = append(images, r)
	}
	cache := []map[string]string{}
	for _, r := range u.cache {
		lastUsed := ""
		if !r.LastUsed.IsZero() {
			lastUsed = output.Since(r.LastUsed, now)
		}
		cache = append(cache, map[string]string{
			"ID": shortID(r.ID, false), "CacheType": r.Type, "Size": output.HumanSize(r.Size),
			"CreatedSince": output.Since(r.Created, now), "LastUsedSince": lastUsed,
			"UsageCount": strconv.Itoa(r.UsageCount), "InUse": "false", "Shared": "false", "Description": "", "Parent": "",
		})
	}
	enc := json.NewEncoder(a.stdout)
	return enc.Encode(struct {
		Images     []imageRow
		Containers []struct{}
		Volumes    []struct{}
		BuildCache []map[string]string
	}{images, []struct{}{}, []struct{}{}, cache})
}
