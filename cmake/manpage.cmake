# cmake -DSERVER=vial-server -DIN=vial-server.1.in -DOUT=vial-server.1 -DVERSION=x -P manpage.cmake
#
# Fills @COMMANDS@ and @SETTINGS@ of the page from `vial-server help`, so
# the manual lists exactly the commands and settings the binary has.  Run
# from an empty folder with the settings' variables cleared, so defaults are
# the built-in ones, not this machine's; the data folders' defaults (found
# at run time) are described in FILES instead of printed.
cmake_minimum_required(VERSION 3.16)
set(tmp "${CMAKE_CURRENT_BINARY_DIR}/manpage.tmp")
file(MAKE_DIRECTORY "${tmp}")
execute_process(COMMAND env -i PATH=/usr/bin:/bin "${SERVER}" help
                WORKING_DIRECTORY "${tmp}" OUTPUT_VARIABLE help RESULT_VARIABLE rc)
file(REMOVE_RECURSE "${tmp}")
if(NOT rc EQUAL 0)
  message(FATAL_ERROR "${SERVER} help failed: ${rc}")
endif()

# roff: a backslash is \e, a line may not start with . or ', a hyphen in an
# option is \-.
function(roff_escape var text)
  string(REPLACE "\\" "\\e" text "${text}")
  string(REGEX REPLACE "^([.'])" "\\\\&\\1" text "${text}")
  set(${var} "${text}" PARENT_SCOPE)
endfunction()

string(REPLACE ";" "\\;" help "${help}")
string(REPLACE "\n" ";" lines "${help}")
set(section "")
set(commands "")
set(settings "")
foreach(line IN LISTS lines)
  if(line MATCHES "^commands:")
    set(section commands)
  elseif(line MATCHES "^configuration")
    set(section settings)
  elseif(section STREQUAL "commands" AND line MATCHES "^  ([a-z][a-z0-9_-]*) +(.*)$")
    roff_escape(desc "${CMAKE_MATCH_2}")
    string(APPEND commands ".TP\n.B ${CMAKE_MATCH_1}\n${desc}\n")
  elseif(section STREQUAL "settings" AND line MATCHES "^  --([a-z0-9-]+) +(.*) \\[default: (.*)\\]$")
    set(flag "${CMAKE_MATCH_1}")
    set(desc "${CMAKE_MATCH_2}")
    set(def "${CMAKE_MATCH_3}")
    string(REPLACE "-" "_" key "${flag}")
    string(TOUPPER "${key}" env)
    if(key MATCHES "^(dashboard_templates|static_dir|migrations_dir|migrations_root)$")
      set(def "see FILES")
    elseif(def STREQUAL "")
      set(def "empty")
    endif()
    roff_escape(desc "${desc}")
    roff_escape(def "${def}")
    string(REPLACE "-" "\\-" flagr "${flag}")
    string(APPEND settings ".TP\n.BI \\-\\-${flagr} \" value\"\n"
           "${desc}.\nKey \\fB${key}\\fR, environment \\fBVIAL_${env}\\fR; default: ${def}.\n")
  endif()
endforeach()
if(commands STREQUAL "" OR settings STREQUAL "")
  message(FATAL_ERROR "could not read the commands and settings from `${SERVER} help`")
endif()
string(REPLACE "\\;" ";" commands "${commands}")
string(REPLACE "\\;" ";" settings "${settings}")
file(READ "${IN}" page)
string(REPLACE "@COMMANDS@" "${commands}" page "${page}")
string(REPLACE "@SETTINGS@" "${settings}" page "${page}")
string(REPLACE "@VERSION@" "${VERSION}" page "${page}")
file(WRITE "${OUT}" "${page}")
