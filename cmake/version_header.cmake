# Writes the version header (src/common/version.h.in) with the commit the sources are at now, and "-dirty" when
# tracked files differ from it: run at every build (the tt_version_header target), not only at configure time,
# so a rebuilt binary never names the commit of an older checkout in run_info.json, prepare-data's meta or
# --version. configure_file rewrites the header only when its text changes, so an unchanged commit recompiles
# nothing.
#   cmake -DSOURCE_DIR=... -DOUTPUT=... -DPROJECT_VERSION=... -DTT_BACKENDS=... -P cmake/version_header.cmake
execute_process(COMMAND git rev-parse --short=12 HEAD WORKING_DIRECTORY ${SOURCE_DIR}
                OUTPUT_VARIABLE TT_GIT_COMMIT OUTPUT_STRIP_TRAILING_WHITESPACE ERROR_QUIET RESULT_VARIABLE rc)
if(NOT rc EQUAL 0 OR NOT TT_GIT_COMMIT)
  set(TT_GIT_COMMIT "unknown")  # a source tarball, or no git
else()
  execute_process(COMMAND git diff --quiet HEAD -- WORKING_DIRECTORY ${SOURCE_DIR} RESULT_VARIABLE dirty
                  ERROR_QUIET)
  if(dirty EQUAL 1)
    string(APPEND TT_GIT_COMMIT "-dirty")
  endif()
endif()
configure_file(${SOURCE_DIR}/src/common/version.h.in ${OUTPUT} @ONLY)
