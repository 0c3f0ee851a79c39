/* in-job.exe LIMIT_MIB COMMAND...: runs COMMAND inside a new job object whose processes
 * may each commit at most LIMIT_MIB MiB (JOB_OBJECT_LIMIT_PROCESS_MEMORY), and exits
 * with its exit code. The process is created suspended and assigned to the job before
 * it runs a single instruction, so it starts inside the job.
 * in-job.exe --query prints what the current process's job reports (a check of the
 * Windows implementation itself, e.g. Wine). Built with mingw-w64 by
 * scripts/test-platforms.mjs for the Windows leg. */
#include <windows.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int main(int argc, char **argv) {
  if (argc == 2 && strcmp(argv[1], "--query") == 0) {
    BOOL in = FALSE;
    JOBOBJECT_EXTENDED_LIMIT_INFORMATION info;
    DWORD len = 0;
    IsProcessInJob(GetCurrentProcess(), NULL, &in);
    memset(&info, 0, sizeof info);
    if (!QueryInformationJobObject(NULL, JobObjectExtendedLimitInformation, &info, sizeof info, &len)) {
      printf("inJob=%d query failed: %lu\n", in, GetLastError());
      return 2;
    }
    printf("inJob=%d flags=0x%lx processMemoryLimit=%llu jobMemoryLimit=%llu\n", in,
           info.BasicLimitInformation.LimitFlags, (unsigned long long)info.ProcessMemoryLimit,
           (unsigned long long)info.JobMemoryLimit);
    return 0;
  }
  if (argc < 3) {
    fprintf(stderr, "usage: in-job.exe LIMIT_MIB COMMAND [ARGS...] | in-job.exe --query\n");
    return 2;
  }
  /* The command line after the limit, as this process received it. */
  const char *cmd = GetCommandLineA();
  int skip = 2;
  int quoted = 0;
  while (*cmd && skip > 0) {
    if (*cmd == '"') quoted = !quoted;
    else if (*cmd == ' ' && !quoted) {
      while (*cmd == ' ') cmd++;
      skip--;
      continue;
    }
    cmd++;
  }
  HANDLE job = CreateJobObjectA(NULL, NULL);
  JOBOBJECT_EXTENDED_LIMIT_INFORMATION limits;
  memset(&limits, 0, sizeof limits);
  limits.BasicLimitInformation.LimitFlags = JOB_OBJECT_LIMIT_PROCESS_MEMORY | JOB_OBJECT_LIMIT_KILL_ON_JOB_CLOSE;
  limits.ProcessMemoryLimit = (SIZE_T)strtoull(argv[1], NULL, 10) << 20;
  if (!job || !SetInformationJobObject(job, JobObjectExtendedLimitInformation, &limits, sizeof limits)) {
    fprintf(stderr, "in-job: could not create the job: %lu\n", GetLastError());
    return 3;
  }
  STARTUPINFOA si;
  PROCESS_INFORMATION pi;
  memset(&si, 0, sizeof si);
  si.cb = sizeof si;
  char *line = _strdup(cmd);
  if (!CreateProcessA(NULL, line, NULL, NULL, TRUE, CREATE_SUSPENDED, NULL, NULL, &si, &pi)) {
    fprintf(stderr, "in-job: could not start %s: %lu\n", cmd, GetLastError());
    return 3;
  }
  if (!AssignProcessToJobObject(job, pi.hProcess)) {
    fprintf(stderr, "in-job: could not assign the process to the job: %lu\n", GetLastError());
    TerminateProcess(pi.hProcess, 3);
    return 3;
  }
  ResumeThread(pi.hThread);
  WaitForSingleObject(pi.hProcess, INFINITE);
  DWORD code = 3;
  GetExitCodeProcess(pi.hProcess, &code);
  return (int)code;
}
