package lint

// buildkitAdvice gives BuildKit's rules the why and the fix every finding
// carries (BuildKit has a description and a URL only). The keys are also
// the BuildKit rule ids a config may name.
var buildkitAdvice = map[string]struct{ why, fix string }{
	"StageNameCasing":                 {"stage names are matched case-insensitively; mixed case reads as two names.", "write stage names in lower case (FROM golang AS build)."},
	"FromAsCasing":                    {"mixed keyword casing is a sign of copy-paste and reads badly.", "write AS in the case of FROM (FROM x AS y, or from x as y)."},
	"NoEmptyContinuation":             {"an empty line inside a continued instruction will become an error in a future Dockerfile syntax.", "remove the empty line, or end the continuation before it."},
	"ConsistentInstructionCasing":     {"mixed instruction casing makes a Dockerfile hard to read.", "write every instruction in the same case (upper case is the convention)."},
	"DuplicateStageName":              {"FROM … AS name twice makes --target and COPY --from ambiguous.", "give every stage its own name."},
	"ReservedStageName":               {"scratch and context are reserved names; a stage by that name is not what COPY --from gets.", "rename the stage."},
	"JSONArgsRecommended":             {"the shell form runs the process under /bin/sh -c, which does not pass on SIGTERM: docker stop waits and kills it.", `use the exec form, CMD ["executable", "arg"] (or exec in a wrapper script).`},
	"MaintainerDeprecated":            {"MAINTAINER is deprecated and not shown by tools that read labels.", `use LABEL org.opencontainers.image.authors="…".`},
	"UndefinedArgInFrom":              {"an undeclared ARG in FROM expands to nothing, so the base image is not the one meant.", "declare the ARG (with a default) before the first FROM."},
	"WorkdirRelativePath":             {"a relative WORKDIR depends on the base image's working directory, which can change.", "use an absolute path, or set an absolute WORKDIR first."},
	"UndefinedVar":                    {"a variable that is never defined expands to nothing, silently.", "define it with ARG or ENV before use, or fix its spelling."},
	"MultipleInstructionsDisallowed":  {"only the last CMD, ENTRYPOINT or HEALTHCHECK of a stage counts; the others mislead.", "keep one per stage."},
	"LegacyKeyValueFormat":            {"ENV key value (no =) is the legacy form and cannot set several variables or values with spaces clearly.", "write ENV key=value (and LABEL key=value)."},
	"InvalidBaseImagePlatform":        {"the base image is for another platform than the build targets: it runs under emulation or not at all.", "pick a base for the target platform, or set --platform on FROM on purpose."},
	"RedundantTargetPlatform":         {"$TARGETPLATFORM is already the default platform of FROM.", "remove --platform=$TARGETPLATFORM."},
	"SecretsUsedInArgOrEnv":           {"ARG and ENV values end up in the image's config and history, readable by anyone who can pull it.", "pass secrets with RUN --mount=type=secret (berth build --secret id=…)."},
	"InvalidDefaultArgInFrom":         {"with the ARG's default the base image name is empty or invalid, so the build fails without --build-arg.", "give the ARG a default that names a valid image."},
	"FromPlatformFlagConstDisallowed": {"a constant --platform on FROM pins the stage to one platform even in a multi-platform build.", "use $BUILDPLATFORM or $TARGETPLATFORM, or remove the flag."},
	"CopyIgnoredFile":                 {"the file is excluded by .dockerignore, so COPY will not find it.", "remove it from .dockerignore, or do not copy it."},
	"InvalidDefinitionDescription":    {"a comment right above a stage or ARG is read as its description.", "write # NAME description, or separate the comment by an empty line."},
	"ExposeProtoCasing":               {"the protocol is matched in lower case.", "write EXPOSE 53/udp."},
	"ExposeInvalidFormat":             {"EXPOSE only documents a container port; an IP or host port there is ignored and will become an error.", "EXPOSE the container port only and publish it with -p at run time."},
}
