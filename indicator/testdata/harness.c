/*
 * User-space harness for templates/payload/ind.h.tmpl, driven by
 * indicator's differential tests through stdin/stdout, one command a line:
 *
 *	V name...		the variable names (at most 32)
 *	K name value...		the constants (decimal values)
 *	C hex			compile the text whose bytes are hex;
 *				answers "ok USES N" or "err"
 *	E v...			evaluate the last program with these values
 *				(exactly as many as names); answers "= VALUE"
 *
 * Every buffer handed to the header is allocated at its exact size (the
 * text without a NUL), so AddressSanitizer sees any read past its end.
 */
#include <errno.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef int64_t s64;
typedef uint64_t u64;
typedef uint32_t u32;
typedef uint16_t u16;
typedef uint8_t u8;

#include "ind.h.tmpl"

static char *names[KGEN_IND_MAX_VARS + 1];
static int nnames;
static struct kgen_ind_sym *consts;
static int nconsts;
static struct kgen_ind_prog *prog;
static bool have;

static void die(const char *what)
{
	fprintf(stderr, "harness: %s\n", what);
	exit(2);
}

static int hexval(int c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	return -1;
}

int main(void)
{
	char *line = NULL;
	size_t cap = 0;
	ssize_t got;

	prog = malloc(sizeof(*prog));
	if (!prog)
		die("out of memory");
	while ((got = getline(&line, &cap, stdin)) > 0) {
		char *p, *tok, *save = NULL;

		if (line[got - 1] == '\n')
			line[--got] = '\0';
		switch (line[0]) {
		case 'V':
			while (nnames > 0)
				free(names[--nnames]);
			for (tok = strtok_r(line + 1, " ", &save); tok;
			     tok = strtok_r(NULL, " ", &save)) {
				if (nnames > KGEN_IND_MAX_VARS)
					die("too many names");
				names[nnames++] = strdup(tok);
			}
			break;
		case 'K':
			free(consts);
			consts = NULL;
			nconsts = 0;
			for (tok = strtok_r(line + 1, " ", &save); tok;
			     tok = strtok_r(NULL, " ", &save)) {
				char *val = strtok_r(NULL, " ", &save);

				if (!val)
					die("K: name without value");
				consts = realloc(consts, (nconsts + 1) * sizeof(*consts));
				if (!consts)
					die("out of memory");
				consts[nconsts].name = strdup(tok);
				consts[nconsts].value = strtoll(val, NULL, 10);
				nconsts++;
			}
			break;
		case 'C': {
			size_t n = got > 2 ? (size_t)(got - 2) / 2 : 0, k;
			char *text = malloc(n ? n : 1);
			int rc;

			if (!text)
				die("out of memory");
			p = line + 2;
			for (k = 0; k < n; k++) {
				int hi = hexval(p[2 * k]), lo = hexval(p[2 * k + 1]);

				if (hi < 0 || lo < 0)
					die("C: bad hex");
				text[k] = (char)(hi << 4 | lo);
			}
			/* Poison the program so that nothing depends on its old contents. */
			memset(prog, 0xa5, sizeof(*prog));
			rc = kgen_ind_compile(prog, text, n, (const char *const *)names,
					      nnames, consts, nconsts);
			free(text);
			have = rc == 0;
			if (rc == 0)
				printf("ok %u %u\n", prog->uses, prog->n);
			else if (rc == -EINVAL)
				printf("err\n");
			else
				die("compile returned neither 0 nor -EINVAL");
			break;
		}
		case 'E': {
			s64 *vals = malloc(nnames ? nnames * sizeof(s64) : 1);
			int k = 0;

			if (!vals)
				die("out of memory");
			if (!have)
				die("E without a program");
			for (tok = strtok_r(line + 1, " ", &save); tok;
			     tok = strtok_r(NULL, " ", &save)) {
				if (k >= nnames)
					die("E: too many values");
				vals[k++] = strtoll(tok, NULL, 10);
			}
			if (k != nnames)
				die("E: too few values");
			printf("= %lld\n", (long long)kgen_ind_eval(prog, vals));
			free(vals);
			break;
		}
		default:
			die("unknown command");
		}
		fflush(stdout);
	}
	free(line);
	return 0;
}
