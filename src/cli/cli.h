/* cli: one file per command; option parsing only, the work is in the modules.
 * Each returns the process exit status. */
#ifndef VESSEL_CLI_H
#define VESSEL_CLI_H

int cmd_exec(int argc, char **argv);     /* vessel exec: RISC-V user mode */
int cmd_run(int argc, char **argv);      /* vessel run: RISC-V whole system */
int cmd_kvm(int argc, char **argv);      /* vessel kvm: x86-64 VMM on /dev/kvm */
int cmd_ctr(int argc, char **argv);      /* vessel ctr: OCI runtime */
int cmd_binfmt(int argc, char **argv);   /* vessel binfmt: binfmt_misc registration */
int cmd_qmp(int argc, char **argv);      /* vessel qmp: one QMP command to a --qmp socket */
int cmd_spare(int argc, char **argv);    /* vessel spare: the hot-spare supervisor */
int cmd_features(int argc, char **argv); /* vessel features: what this binary supports */

/* Entered when the binary runs as a binfmt_misc interpreter
 * (argv[0] basename "vessel-riscv64"): argv[1] is the program. */
int cmd_exec_binfmt(int argc, char **argv);

#endif
