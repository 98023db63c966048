package pkgcache

// Cache is a directory a package manager fills and images rarely need.
type Cache struct {
	Dir  string // absolute path in the image
	What string // what it holds, in plain words ("apt package lists")
	Fix  string // how to keep it out of the layer, as both dive and lint say it
	// Rule is the `berth lint` rule that flags a RUN leaving this cache
	// behind; "" when the Dockerfile alone cannot tell (dive still can).
	Rule string
	// Fills are the commands (as word sequences) whose run fills Dir.
	Fills [][]string
	// Keeps are words or flags whose presence in the same RUN keeps Dir
	// empty in the layer (a flag of the install, a clean command, an rm of
	// the directory). A cache mount on Dir (RUN --mount=type=cache) and an
	// environment variable in Env set in the stage do too.
	Keeps []string
	Env   string // e.g. PIP_NO_CACHE_DIR: set (not to 0/false), no cache is written
}

// Caches lists every cache berth knows, most common first.
var Caches = []Cache{
	{
		Dir: "/var/lib/apt/lists", What: "apt package lists", Rule: "AptListsNotRemoved",
		Fix:   "add `&& rm -rf /var/lib/apt/lists/*` to the RUN that calls apt-get update",
		Fills: [][]string{{"apt-get", "update"}, {"apt", "update"}},
		Keeps: []string{"/var/lib/apt/lists"},
	},
	{
		// Debian's and Ubuntu's images clean the .deb files after every
		// install (/etc/apt/apt.conf.d/docker-clean), so the Dockerfile
		// alone cannot tell whether they stay: only dive can.
		Dir: "/var/cache/apt/archives", What: "downloaded .deb files",
		Fix: "run `apt-get clean` in the same RUN as apt-get install",
	},
	{
		Dir: "/var/cache/apk", What: "the apk cache", Rule: "ApkAddNoCache",
		Fix:   "use `apk add --no-cache`",
		Fills: [][]string{{"apk", "add"}, {"apk", "update"}},
		Keeps: []string{"--no-cache", "/var/cache/apk"},
	},
	{
		Dir: "/root/.cache/pip", What: "the pip cache", Rule: "PipNoCacheDir",
		Fix:   "use `pip install --no-cache-dir`",
		Fills: [][]string{{"pip", "install"}, {"pip3", "install"}, {"-m", "pip", "install"}},
		Keeps: []string{"--no-cache-dir", "/root/.cache/pip", "/root/.cache"},
		Env:   "PIP_NO_CACHE_DIR",
	},
	{
		Dir: "/root/.npm", What: "the npm cache", Rule: "PackageCacheInLayer",
		Fix:   "run `npm cache clean --force` in the same RUN, or use a multi-stage build",
		Fills: [][]string{{"npm", "install"}, {"npm", "ci"}, {"npm", "i"}},
		Keeps: []string{"cache clean", "/root/.npm"},
	},
	{
		Dir: "/usr/local/share/.cache/yarn", What: "the yarn cache", Rule: "PackageCacheInLayer",
		Fix:   "run `yarn cache clean` in the same RUN",
		Fills: [][]string{{"yarn", "install"}, {"yarn", "add"}},
		Keeps: []string{"cache clean", "/usr/local/share/.cache/yarn"},
	},
	{
		Dir: "/root/.cache/go-build", What: "the Go build cache", Rule: "PackageCacheInLayer",
		Fix:   "build in a separate stage and copy only the binary",
		Fills: [][]string{{"go", "build"}, {"go", "install"}},
		Keeps: []string{"go clean -cache", "/root/.cache/go-build", "/root/.cache"},
	},
	{
		Dir: "/var/cache/yum", What: "the yum cache", Rule: "PackageCacheInLayer",
		Fix:   "run `yum clean all` in the same RUN",
		Fills: [][]string{{"yum", "install"}},
		Keeps: []string{"yum clean all", "/var/cache/yum"},
	},
	{
		Dir: "/var/cache/dnf", What: "the dnf cache", Rule: "PackageCacheInLayer",
		Fix:   "run `dnf clean all` in the same RUN",
		Fills: [][]string{{"dnf", "install"}, {"microdnf", "install"}},
		Keeps: []string{"dnf clean all", "/var/cache/dnf"},
	},
}

// ToolPaths are files whose presence in a final image suggests the build
// happened in it.
var ToolPaths = []string{
	"/usr/bin/gcc", "/usr/bin/g++", "/usr/bin/cc", "/usr/bin/c++", "/usr/bin/clang", "/usr/bin/make",
	"/usr/bin/cmake", "/usr/bin/rustc", "/usr/local/cargo/bin/cargo", "/root/.cargo/bin/cargo",
	"/usr/local/go/bin/go", "/usr/lib/go/bin/go", "/usr/bin/go", "/usr/bin/javac", "/usr/bin/mvn", "/usr/bin/gradle",
}

// ToolPackages are the distribution packages (apt, apk, yum/dnf) that put
// those files there.
var ToolPackages = []string{
	"build-essential", "build-base", "gcc", "g++", "gcc-c++", "clang", "make", "cmake",
	"golang", "go", "rustc", "cargo", "default-jdk", "openjdk-17-jdk", "openjdk-21-jdk", "maven", "gradle",
}

// ToolImages are official base images that are toolchains: a final stage
// built FROM one ships the compiler.
var ToolImages = []string{"golang", "rust", "gcc", "maven", "gradle"}

// ToolchainRule is the `berth lint` rule for a toolchain in the final stage,
// the Dockerfile side of dive's build-tools hint.
const ToolchainRule = "ToolchainInFinalStage"
