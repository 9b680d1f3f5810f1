/* emu/riscv: instruction decoding. Compressed instructions are expanded to
 * their 32-bit forms first, so the interpreter sees one format; immediates
 * are sign-extended once, and pc-relative targets are made absolute. */
#include "emu/riscv/hart.h"
#include "emu/riscv/ops.h"

#define BITS(v, hi, lo) (((v) >> (lo)) & ((1u << ((hi) - (lo) + 1)) - 1))
#define BIT(v, b) (((v) >> (b)) & 1u)

static inline int64_t sext(uint64_t v, unsigned bits)
{
    return (int64_t)(v << (64 - bits)) >> (64 - bits);
}

/* ---- 32-bit encoders used by the RVC expander ---- */
static uint32_t enc_i(unsigned op, unsigned rd, unsigned f3, unsigned rs1, int32_t imm)
{
    return ((uint32_t)(imm & 0xfff) << 20) | (rs1 << 15) | (f3 << 12) | (rd << 7) | op;
}
static uint32_t enc_s(unsigned op, unsigned f3, unsigned rs1, unsigned rs2, int32_t imm)
{
    return ((uint32_t)((imm >> 5) & 0x7f) << 25) | (rs2 << 20) | (rs1 << 15) | (f3 << 12) |
           ((uint32_t)(imm & 31) << 7) | op;
}
static uint32_t enc_r(unsigned op, unsigned rd, unsigned f3, unsigned rs1, unsigned rs2, unsigned f7)
{
    return (f7 << 25) | (rs2 << 20) | (rs1 << 15) | (f3 << 12) | (rd << 7) | op;
}
static uint32_t enc_b(unsigned f3, unsigned rs1, unsigned rs2, int32_t off)
{
    uint32_t o = (uint32_t)off;
    return (BIT(o, 12) << 31) | (BITS(o, 10, 5) << 25) | (rs2 << 20) | (rs1 << 15) | (f3 << 12) |
           (BITS(o, 4, 1) << 8) | (BIT(o, 11) << 7) | 0x63;
}
static uint32_t enc_j(unsigned rd, int32_t off)
{
    uint32_t o = (uint32_t)off;
    return (BIT(o, 20) << 31) | (BITS(o, 10, 1) << 21) | (BIT(o, 11) << 20) |
           (BITS(o, 19, 12) << 12) | (rd << 7) | 0x6f;
}

uint32_t rv_expand_c(uint16_t c)
{
    unsigned f3 = BITS(c, 15, 13), q = c & 3;
    unsigned rd = BITS(c, 11, 7), rs2 = BITS(c, 6, 2);
    unsigned rdp = BITS(c, 4, 2) + 8, rs1p = BITS(c, 9, 7) + 8;
    int32_t imm6 = (int32_t)sext((BIT(c, 12) << 5) | BITS(c, 6, 2), 6);
    if (c == 0)
        return 0;
    switch (q) {
    case 0:
        switch (f3) {
        case 0: {   /* c.addi4spn */
            unsigned u = (BITS(c, 12, 11) << 4) | (BITS(c, 10, 7) << 6) | (BIT(c, 6) << 2) | (BIT(c, 5) << 3);
            return u ? enc_i(0x13, rdp, 0, 2, (int32_t)u) : 0;
        }
        case 1: case 3: case 5: case 7: {   /* c.fld c.ld c.fsd c.sd */
            int32_t u = (int32_t)((BITS(c, 12, 10) << 3) | (BITS(c, 6, 5) << 6));
            if (f3 == 1) return enc_i(0x07, rdp, 3, rs1p, u);
            if (f3 == 3) return enc_i(0x03, rdp, 3, rs1p, u);
            if (f3 == 5) return enc_s(0x27, 3, rs1p, rdp, u);
            return enc_s(0x23, 3, rs1p, rdp, u);
        }
        case 2: case 6: {   /* c.lw c.sw */
            int32_t u = (int32_t)((BITS(c, 12, 10) << 3) | (BIT(c, 6) << 2) | (BIT(c, 5) << 6));
            return f3 == 2 ? enc_i(0x03, rdp, 2, rs1p, u) : enc_s(0x23, 2, rs1p, rdp, u);
        }
        default:
            return 0;
        }
    case 1:
        switch (f3) {
        case 0: return enc_i(0x13, rd, 0, rd, imm6);                 /* c.addi */
        case 1: return rd ? enc_i(0x1b, rd, 0, rd, imm6) : 0;        /* c.addiw */
        case 2: return enc_i(0x13, rd, 0, 0, imm6);                  /* c.li */
        case 3:
            if (rd == 2) {  /* c.addi16sp */
                int32_t v = (int32_t)sext((BIT(c, 12) << 9) | (BIT(c, 6) << 4) | (BIT(c, 5) << 6) |
                                          (BITS(c, 4, 3) << 7) | (BIT(c, 2) << 5), 10);
                return v ? enc_i(0x13, 2, 0, 2, v) : 0;
            } else {        /* c.lui */
                int32_t v = (int32_t)sext((BIT(c, 12) << 17) | (BITS(c, 6, 2) << 12), 18);
                return v ? (((uint32_t)v & 0xfffff000u) | (rd << 7) | 0x37) : 0;
            }
        case 4:
            switch (BITS(c, 11, 10)) {
            case 0: return enc_i(0x13, rs1p, 5, rs1p, (int32_t)((BIT(c, 12) << 5) | BITS(c, 6, 2)));
            case 1: return enc_i(0x13, rs1p, 5, rs1p, (int32_t)(0x400 | (BIT(c, 12) << 5) | BITS(c, 6, 2)));
            case 2: return enc_i(0x13, rs1p, 7, rs1p, imm6);
            default: {
                unsigned r2 = rdp, f2 = BITS(c, 6, 5);
                if (!BIT(c, 12)) {
                    static const unsigned f3s[4] = { 0, 4, 6, 7 };
                    return enc_r(0x33, rs1p, f3s[f2], rs1p, r2, f2 == 0 ? 0x20 : 0);
                }
                if (f2 == 0) return enc_r(0x3b, rs1p, 0, rs1p, r2, 0x20);   /* subw */
                if (f2 == 1) return enc_r(0x3b, rs1p, 0, rs1p, r2, 0);      /* addw */
                return 0;
            }
            }
        case 5: {   /* c.j */
            int32_t off = (int32_t)sext((BIT(c, 12) << 11) | (BIT(c, 11) << 4) | (BITS(c, 10, 9) << 8) |
                                        (BIT(c, 8) << 10) | (BIT(c, 7) << 6) | (BIT(c, 6) << 7) |
                                        (BITS(c, 5, 3) << 1) | (BIT(c, 2) << 5), 12);
            return enc_j(0, off);
        }
        default: {  /* c.beqz c.bnez */
            int32_t off = (int32_t)sext((BIT(c, 12) << 8) | (BITS(c, 11, 10) << 3) | (BITS(c, 6, 5) << 6) |
                                        (BITS(c, 4, 3) << 1) | (BIT(c, 2) << 5), 9);
            return enc_b(f3 == 6 ? 0 : 1, rs1p, 0, off);
        }
        }
    case 2:
        switch (f3) {
        case 0: return enc_i(0x13, rd, 1, rd, (int32_t)((BIT(c, 12) << 5) | BITS(c, 6, 2)));  /* c.slli */
        case 1: case 3: {   /* c.fldsp c.ldsp */
            int32_t u = (int32_t)((BIT(c, 12) << 5) | (BITS(c, 6, 5) << 3) | (BITS(c, 4, 2) << 6));
            if (f3 == 3 && rd == 0) return 0;
            return enc_i(f3 == 1 ? 0x07 : 0x03, rd, 3, 2, u);
        }
        case 2: {   /* c.lwsp */
            int32_t u = (int32_t)((BIT(c, 12) << 5) | (BITS(c, 6, 4) << 2) | (BITS(c, 3, 2) << 6));
            return rd ? enc_i(0x03, rd, 2, 2, u) : 0;
        }
        case 4:
            if (!BIT(c, 12)) {
                if (rs2 == 0) return rd ? enc_i(0x67, 0, 0, rd, 0) : 0;     /* c.jr */
                return enc_r(0x33, rd, 0, 0, rs2, 0);                        /* c.mv */
            }
            if (rs2 == 0) {
                if (rd == 0) return 0x00100073;                              /* c.ebreak */
                return enc_i(0x67, 1, 0, rd, 0);                             /* c.jalr */
            }
            return enc_r(0x33, rd, 0, rd, rs2, 0);                           /* c.add */
        case 5: case 7: {   /* c.fsdsp c.sdsp */
            int32_t u = (int32_t)((BITS(c, 12, 10) << 3) | (BITS(c, 9, 7) << 6));
            return enc_s(f3 == 5 ? 0x27 : 0x23, 3, 2, rs2, u);
        }
        default: {  /* c.swsp */
            int32_t u = (int32_t)((BITS(c, 12, 9) << 2) | (BITS(c, 8, 7) << 6));
            return enc_s(0x23, 2, 2, rs2, u);
        }
        }
    default:
        return 0;
    }
}

bool rv_op_ends_block(unsigned op)
{
    switch (op) {
    case RV_OP_JAL: case RV_OP_JALR: case RV_OP_BEQ: case RV_OP_BNE: case RV_OP_BLT:
    case RV_OP_BGE: case RV_OP_BLTU: case RV_OP_BGEU: case RV_OP_ECALL: case RV_OP_EBREAK:
    case RV_OP_FENCE_I: case RV_OP_MRET: case RV_OP_SRET: case RV_OP_WFI:
    case RV_OP_SFENCE_VMA: case RV_OP_ILLEGAL: case RV_OP_CSRRW: case RV_OP_CSRRS:
    case RV_OP_CSRRC: case RV_OP_CSRRWI: case RV_OP_CSRRSI: case RV_OP_CSRRCI:
        return true;
    default:
        return false;
    }
}

static unsigned op_load(unsigned f3)
{
    static const unsigned t[8] = { RV_OP_LB, RV_OP_LH, RV_OP_LW, RV_OP_LD, RV_OP_LBU, RV_OP_LHU,
                                   RV_OP_LWU, RV_OP_ILLEGAL };
    return t[f3];
}

static unsigned op_amo(uint32_t raw)
{
    unsigned f3 = BITS(raw, 14, 12), f5 = BITS(raw, 31, 27);
    bool d = f3 == 3;
    if (f3 != 2 && f3 != 3)
        return RV_OP_ILLEGAL;
    switch (f5) {
    case 0x02: return BITS(raw, 24, 20) ? RV_OP_ILLEGAL : d ? RV_OP_LR_D : RV_OP_LR_W;
    case 0x03: return d ? RV_OP_SC_D : RV_OP_SC_W;
    case 0x01: return d ? RV_OP_AMOSWAP_D : RV_OP_AMOSWAP_W;
    case 0x00: return d ? RV_OP_AMOADD_D : RV_OP_AMOADD_W;
    case 0x04: return d ? RV_OP_AMOXOR_D : RV_OP_AMOXOR_W;
    case 0x0c: return d ? RV_OP_AMOAND_D : RV_OP_AMOAND_W;
    case 0x08: return d ? RV_OP_AMOOR_D : RV_OP_AMOOR_W;
    case 0x10: return d ? RV_OP_AMOMIN_D : RV_OP_AMOMIN_W;
    case 0x14: return d ? RV_OP_AMOMAX_D : RV_OP_AMOMAX_W;
    case 0x18: return d ? RV_OP_AMOMINU_D : RV_OP_AMOMINU_W;
    case 0x1c: return d ? RV_OP_AMOMAXU_D : RV_OP_AMOMAXU_W;
    default: return RV_OP_ILLEGAL;
    }
}

/* OP (0x33) and OP-32 (0x3b): R-type incl. M and B. */
static unsigned op_reg(uint32_t raw, bool w)
{
    unsigned f3 = BITS(raw, 14, 12), f7 = BITS(raw, 31, 25), rs2 = BITS(raw, 24, 20);
    if (!w) {
        switch (f7) {
        case 0x00: {
            static const unsigned t[8] = { RV_OP_ADD, RV_OP_SLL, RV_OP_SLT, RV_OP_SLTU,
                                           RV_OP_XOR, RV_OP_SRL, RV_OP_OR, RV_OP_AND };
            return t[f3];
        }
        case 0x20:
            switch (f3) {
            case 0: return RV_OP_SUB;
            case 5: return RV_OP_SRA;
            case 4: return RV_OP_XNOR;
            case 6: return RV_OP_ORN;
            case 7: return RV_OP_ANDN;
            default: return RV_OP_ILLEGAL;
            }
        case 0x01: {
            static const unsigned t[8] = { RV_OP_MUL, RV_OP_MULH, RV_OP_MULHSU, RV_OP_MULHU,
                                           RV_OP_DIV, RV_OP_DIVU, RV_OP_REM, RV_OP_REMU };
            return t[f3];
        }
        case 0x10:
            return f3 == 2 ? RV_OP_SH1ADD : f3 == 4 ? RV_OP_SH2ADD : f3 == 6 ? RV_OP_SH3ADD : RV_OP_ILLEGAL;
        case 0x05:
            switch (f3) {
            case 4: return RV_OP_MIN;
            case 5: return RV_OP_MINU;
            case 6: return RV_OP_MAX;
            case 7: return RV_OP_MAXU;
            default: return RV_OP_ILLEGAL;
            }
        case 0x30:
            return f3 == 1 ? RV_OP_ROL : f3 == 5 ? RV_OP_ROR : RV_OP_ILLEGAL;
        case 0x24:
            return f3 == 1 ? RV_OP_BCLR : f3 == 5 ? RV_OP_BEXT : RV_OP_ILLEGAL;
        case 0x34:
            return f3 == 1 ? RV_OP_BINV : RV_OP_ILLEGAL;
        case 0x14:
            return f3 == 1 ? RV_OP_BSET : RV_OP_ILLEGAL;
        default:
            return RV_OP_ILLEGAL;
        }
    }
    switch (f7) {
    case 0x00:
        return f3 == 0 ? RV_OP_ADDW : f3 == 1 ? RV_OP_SLLW : f3 == 5 ? RV_OP_SRLW : RV_OP_ILLEGAL;
    case 0x20:
        return f3 == 0 ? RV_OP_SUBW : f3 == 5 ? RV_OP_SRAW : RV_OP_ILLEGAL;
    case 0x01:
        switch (f3) {
        case 0: return RV_OP_MULW;
        case 4: return RV_OP_DIVW;
        case 5: return RV_OP_DIVUW;
        case 6: return RV_OP_REMW;
        case 7: return RV_OP_REMUW;
        default: return RV_OP_ILLEGAL;
        }
    case 0x04:
        if (f3 == 0) return RV_OP_ADD_UW;
        if (f3 == 4 && rs2 == 0) return RV_OP_ZEXT_H;
        return RV_OP_ILLEGAL;
    case 0x10:
        return f3 == 2 ? RV_OP_SH1ADD_UW : f3 == 4 ? RV_OP_SH2ADD_UW : f3 == 6 ? RV_OP_SH3ADD_UW : RV_OP_ILLEGAL;
    case 0x30:
        return f3 == 1 ? RV_OP_ROLW : f3 == 5 ? RV_OP_RORW : RV_OP_ILLEGAL;
    default:
        return RV_OP_ILLEGAL;
    }
}

/* OP-IMM (0x13) */
static unsigned op_imm(uint32_t raw, int64_t *imm)
{
    unsigned f3 = BITS(raw, 14, 12), f6 = BITS(raw, 31, 26), sh = BITS(raw, 25, 20);
    unsigned f12 = BITS(raw, 31, 20);
    switch (f3) {
    case 0: return RV_OP_ADDI;
    case 2: return RV_OP_SLTI;
    case 3: return RV_OP_SLTIU;
    case 4: return RV_OP_XORI;
    case 6: return RV_OP_ORI;
    case 7: return RV_OP_ANDI;
    case 1:
        *imm = sh;
        switch (f6) {
        case 0x00: return RV_OP_SLLI;
        case 0x12: return RV_OP_BCLRI;
        case 0x1a: return RV_OP_BINVI;
        case 0x0a: return RV_OP_BSETI;
        case 0x18:
            switch (f12) {
            case 0x600: return RV_OP_CLZ;
            case 0x601: return RV_OP_CTZ;
            case 0x602: return RV_OP_CPOP;
            case 0x604: return RV_OP_SEXT_B;
            case 0x605: return RV_OP_SEXT_H;
            default: return RV_OP_ILLEGAL;
            }
        default: return RV_OP_ILLEGAL;
        }
    default: /* 5 */
        *imm = sh;
        switch (f6) {
        case 0x00: return RV_OP_SRLI;
        case 0x10: return RV_OP_SRAI;
        case 0x12: return RV_OP_BEXTI;
        case 0x18: return RV_OP_RORI;
        case 0x0a: return f12 == 0x287 ? RV_OP_ORC_B : RV_OP_ILLEGAL;
        case 0x1a: return f12 == 0x6b8 ? RV_OP_REV8 : RV_OP_ILLEGAL;
        default: return RV_OP_ILLEGAL;
        }
    }
}

/* OP-IMM-32 (0x1b) */
static unsigned op_imm32(uint32_t raw, int64_t *imm)
{
    unsigned f3 = BITS(raw, 14, 12), f7 = BITS(raw, 31, 25), sh = BITS(raw, 24, 20);
    unsigned f6 = BITS(raw, 31, 26);
    switch (f3) {
    case 0: return RV_OP_ADDIW;
    case 1:
        if (f6 == 0x02) { *imm = BITS(raw, 25, 20); return RV_OP_SLLI_UW; }
        *imm = sh;
        if (f7 == 0x00) return RV_OP_SLLIW;
        if (f7 == 0x30) {
            switch (sh) {
            case 0: return RV_OP_CLZW;
            case 1: return RV_OP_CTZW;
            case 2: return RV_OP_CPOPW;
            default: return RV_OP_ILLEGAL;
            }
        }
        return RV_OP_ILLEGAL;
    case 5:
        *imm = sh;
        if (f7 == 0x00) return RV_OP_SRLIW;
        if (f7 == 0x20) return RV_OP_SRAIW;
        if (f7 == 0x30) return RV_OP_RORIW;
        return RV_OP_ILLEGAL;
    default:
        return RV_OP_ILLEGAL;
    }
}

static unsigned op_system(uint32_t raw, bool user, int64_t *imm)
{
    unsigned f3 = BITS(raw, 14, 12), rd = BITS(raw, 11, 7), rs1 = BITS(raw, 19, 15);
    if (f3 == 0) {
        if (raw == 0x00000073) return RV_OP_ECALL;
        if (raw == 0x00100073) return RV_OP_EBREAK;
        if (user)
            return RV_OP_ILLEGAL;
        if (raw == 0x30200073) return RV_OP_MRET;
        if (raw == 0x10200073) return RV_OP_SRET;
        if (raw == 0x10500073) return RV_OP_WFI;
        if (BITS(raw, 31, 25) == 0x09 && rd == 0) return RV_OP_SFENCE_VMA;
        return RV_OP_ILLEGAL;
    }
    *imm = BITS(raw, 31, 20);
    (void)rs1;
    switch (f3) {
    case 1: return RV_OP_CSRRW;
    case 2: return RV_OP_CSRRS;
    case 3: return RV_OP_CSRRC;
    case 5: return RV_OP_CSRRWI;
    case 6: return RV_OP_CSRRSI;
    case 7: return RV_OP_CSRRCI;
    default: return RV_OP_ILLEGAL;
    }
}

void rv_decode(struct rv_insn *i, uint32_t raw, unsigned len, uint64_t pc, bool user)
{
    unsigned opc = raw & 0x7f;
    unsigned f3 = BITS(raw, 14, 12);
    int64_t imm_i = sext(raw >> 20, 12);
    int64_t imm_s = sext((BITS(raw, 31, 25) << 5) | BITS(raw, 11, 7), 12);
    unsigned op = RV_OP_ILLEGAL;
    int64_t imm = 0;

    memset(i, 0, sizeof(*i));
    i->raw = raw;
    i->len = (uint8_t)len;
    i->rd = BITS(raw, 11, 7);
    i->rs1 = BITS(raw, 19, 15);
    i->rs2 = BITS(raw, 24, 20);
    i->rs3 = BITS(raw, 31, 27);

    switch (opc) {
    case 0x37: op = RV_OP_LUI; imm = sext(raw & 0xfffff000u, 32); break;
    case 0x17: op = RV_OP_AUIPC; imm = (int64_t)(pc + (uint64_t)sext(raw & 0xfffff000u, 32)); break;
    case 0x6f: {
        uint64_t off = (BIT(raw, 31) << 20) | (BITS(raw, 19, 12) << 12) | (BIT(raw, 20) << 11) |
                       (BITS(raw, 30, 21) << 1);
        op = RV_OP_JAL;
        imm = (int64_t)(pc + (uint64_t)sext(off, 21));
        break;
    }
    case 0x67: op = f3 == 0 ? RV_OP_JALR : RV_OP_ILLEGAL; imm = imm_i; break;
    case 0x63: {
        static const unsigned t[8] = { RV_OP_BEQ, RV_OP_BNE, RV_OP_ILLEGAL, RV_OP_ILLEGAL,
                                       RV_OP_BLT, RV_OP_BGE, RV_OP_BLTU, RV_OP_BGEU };
        uint64_t off = (BIT(raw, 31) << 12) | (BIT(raw, 7) << 11) | (BITS(raw, 30, 25) << 5) |
                       (BITS(raw, 11, 8) << 1);
        op = t[f3];
        imm = (int64_t)(pc + (uint64_t)sext(off, 13));
        break;
    }
    case 0x03: op = op_load(f3); imm = imm_i; break;
    case 0x23:
        op = f3 == 0 ? RV_OP_SB : f3 == 1 ? RV_OP_SH : f3 == 2 ? RV_OP_SW : f3 == 3 ? RV_OP_SD : RV_OP_ILLEGAL;
        imm = imm_s;
        break;
    case 0x13: imm = imm_i; op = op_imm(raw, &imm); break;
    case 0x1b: imm = imm_i; op = op_imm32(raw, &imm); break;
    case 0x33: op = op_reg(raw, false); break;
    case 0x3b: op = op_reg(raw, true); break;
    case 0x2f: op = op_amo(raw); break;
    case 0x07: op = f3 == 2 ? RV_OP_FLW : f3 == 3 ? RV_OP_FLD : RV_OP_ILLEGAL; imm = imm_i; break;
    case 0x27: op = f3 == 2 ? RV_OP_FSW : f3 == 3 ? RV_OP_FSD : RV_OP_ILLEGAL; imm = imm_s; break;
    case 0x53: case 0x43: case 0x47: case 0x4b: case 0x4f: op = RV_OP_FPU; break;
    case 0x0f:
        op = f3 == 0 ? RV_OP_FENCE : f3 == 1 ? RV_OP_FENCE_I : RV_OP_ILLEGAL;
        break;
    case 0x73: op = op_system(raw, user, &imm); break;
    default: op = RV_OP_ILLEGAL; break;
    }
    if (len == 2 && raw == 0)
        op = RV_OP_ILLEGAL;
    i->imm = imm;

    /* Register-writing ops with rd == x0 and no side effect become nops;
     * the rest write the sink register 32. */
    switch (op) {
    case RV_OP_ADDI:
        if (i->rd == 0) op = RV_OP_NOP;
        else if (i->rs1 == 0) op = RV_OP_LI;
        else if (imm == 0) op = RV_OP_MV;
        break;
    case RV_OP_ADD:
        if (i->rd == 0) op = RV_OP_NOP;
        else if (i->rs1 == 0) { op = RV_OP_MV; i->rs1 = i->rs2; }
        break;
    case RV_OP_LUI:
        if (i->rd == 0) op = RV_OP_NOP;
        else op = RV_OP_LI;
        break;
    case RV_OP_AUIPC:
        if (i->rd == 0) op = RV_OP_NOP;
        else op = RV_OP_LI;
        break;
    default:
        break;
    }
    if (i->rd == 0 && op != RV_OP_FLW && op != RV_OP_FLD && op != RV_OP_FPU)
        i->rd = 32;
    i->op = (uint16_t)op;
}
