/* kvm/x86: a small AML writer (ACPI 6.5, chapter 20), private to the
 * module: the DSDT of acpi.c and the CPU hotplug controller of cpuhp.c.
 *
 * Bytes go into a caller-owned buffer; a package (Scope, Device, Method,
 * If, Else, While, Buffer, Package, Field) is opened with its opcode and
 * closed with aml_end, which inserts the PkgLength in front of the body.
 * Overflow or too deep nesting sets `err` and stops writing. */
#ifndef VESSEL_KVM_X86_AML_H
#define VESSEL_KVM_X86_AML_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define AML_DEPTH 8
struct aml {
    uint8_t *buf;
    size_t len, cap;
    size_t open[AML_DEPTH];
    unsigned depth;
    int err;
};

/* Opcodes of packages (aml_begin) */
extern const uint8_t OP_SCOPE[1], OP_DEVICE[2], OP_METHOD[1], OP_IF[1], OP_ELSE[1], OP_WHILE[1],
                     OP_BUFFER[1], OP_PACKAGE[1], OP_FIELD[2];
/* One-byte opcodes and operands used inline */
enum {
    AML_ZERO = 0x00, AML_ONE = 0x01, AML_NAME_OP = 0x08, AML_STORE = 0x70, AML_INCREMENT = 0x75,
    AML_AND = 0x7b, AML_NOTIFY = 0x86, AML_LAND = 0x90, AML_LNOT = 0x92, AML_LEQUAL = 0x93,
    AML_LLESS = 0x95, AML_RETURN = 0xa4,
    AML_LOCAL0 = 0x60, AML_ARG0 = 0x68,
    /* Field flags: access type | update rule */
    AML_FIELD_BYTE = 0x01, AML_FIELD_DWORD = 0x03, AML_FIELD_WRITE_ZEROS = 0x40,
};

void aml_bytes(struct aml *a, const void *p, size_t n);
void aml_byte(struct aml *a, uint8_t b);
void aml_seg(struct aml *a, const char *s, size_t n);      /* one NameSeg, padded with '_' */
void aml_name(struct aml *a, const char *path);            /* "\\_SB.PWRB", "_HID" */
void aml_int(struct aml *a, uint64_t v);                   /* Zero, One, Byte/Word/DWord/QWordConst */
void aml_string(struct aml *a, const char *s);
void aml_eisaid(struct aml *a, const char *id);            /* EISAID("PNP0501") */
void aml_begin(struct aml *a, const uint8_t *op, size_t oplen);
void aml_end(struct aml *a);
void aml_name_int(struct aml *a, const char *name, uint64_t v);
void aml_name_string(struct aml *a, const char *name, const char *s);
void aml_crs(struct aml *a, const uint8_t *res, size_t len);   /* Name(_CRS, ResourceTemplate() { res }) */
/* Memory32Fixed(ReadWrite, base, len) + Interrupt(ResourceConsumer, Level,
 * ActiveHigh, Exclusive) { irq }; the bytes' count. r: room for 21. */
size_t res_mem_irq(uint8_t *r, uint32_t base, uint32_t len, uint32_t irq);
/* Device(name) { _HID EISAID(hid); _UID uid } opened (close with aml_end). */
void aml_device_eisa(struct aml *a, const char *name, const char *hid, unsigned uid);
/* Method(name, nargs, Serialized or NotSerialized) opened. */
void aml_method(struct aml *a, const char *name, unsigned nargs, bool serialized);
/* OperationRegion(name, SystemMemory, base, len) */
void aml_opregion(struct aml *a, const char *name, uint64_t base, uint64_t len);
void aml_mutex(struct aml *a, const char *name);           /* Mutex(name, 0) */
void aml_acquire(struct aml *a, const char *name);         /* Acquire(name, 0xFFFF) */
void aml_release(struct aml *a, const char *name);

#endif
