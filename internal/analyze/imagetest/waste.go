package imagetest

// The numbers of the Waste image, worked out by hand from dive's rules (see
// analyze's doc): each layer's leaves, their sizes, and what repeats.
const (
	MiB          = 1 << 20
	BigSize      = 5 * MiB // /tmp/big: added in layer 2, deleted in layer 3
	ConfigSize1  = 1000    // /etc/config in layer 1 ...
	ConfigSize2  = 1500    // ... overwritten in layer 3
	AppSize      = 200 << 10
	ListSize     = 300 << 10 // each of 3 apt list files
	WasteWasted  = BigSize + ConfigSize1 + ConfigSize2 + 2*AppSize
	WasteTotal   = 100<<10 + ConfigSize1 + 2000 + 3*ListSize + BigSize + ConfigSize2 + 2*AppSize
	WasteMinimum = 100<<10 + ConfigSize1 + 2000 + 3*ListSize + 0 + AppSize
	WasteUser    = 3*ListSize + BigSize + ConfigSize2 + 2*AppSize
)

// Waste is an image with known waste: a 5 MiB file added then deleted, a
// file overwritten, apt lists left behind and a file copied twice.
func Waste() []Layer {
	return []Layer{
		{CreatedBy: "/bin/sh -c #(nop) ADD file:base in / ", Files: []File{
			{Path: "bin/", Dir: true}, {Path: "bin/sh", Size: 100 << 10, Seed: 1, Mode: 0o755},
			{Path: "etc/", Dir: true}, {Path: "etc/config", Size: ConfigSize1, Seed: 2}, {Path: "etc/old", Size: 2000, Seed: 3},
			{Path: "tmp/", Dir: true, Mode: 0o1777},
		}},
		{CreatedBy: "/bin/sh -c apt-get update && dd if=/dev/zero of=/tmp/big", Files: []File{
			{Path: "var/", Dir: true}, {Path: "var/lib/", Dir: true}, {Path: "var/lib/apt/", Dir: true}, {Path: "var/lib/apt/lists/", Dir: true},
			{Path: "var/lib/apt/lists/deb.debian.org_main_Packages", Size: ListSize, Seed: 10},
			{Path: "var/lib/apt/lists/deb.debian.org_updates_Packages", Size: ListSize, Seed: 11},
			{Path: "var/lib/apt/lists/security.debian.org_Packages", Size: ListSize, Seed: 12},
			{Path: "tmp/", Dir: true, Mode: 0o1777}, {Path: "tmp/big", Size: BigSize, Seed: 4},
		}},
		{CreatedBy: "/bin/sh -c rm /tmp/big && echo configured > /etc/config", Files: []File{
			{Path: "etc/", Dir: true}, {Path: "etc/config", Size: ConfigSize2, Seed: 5},
			{Path: "tmp/", Dir: true, Mode: 0o1777}, Whiteout("tmp/big"),
		}},
		{CreatedBy: "COPY app /app # buildkit", Files: []File{
			{Path: "app/", Dir: true}, {Path: "app/bin", Size: AppSize, Seed: 6, Mode: 0o755},
		}},
		{CreatedBy: "COPY app /app # buildkit", Files: []File{
			{Path: "app/", Dir: true}, {Path: "app/bin", Size: AppSize, Seed: 6, Mode: 0o755},
		}},
	}
}
