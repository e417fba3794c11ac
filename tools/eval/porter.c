/* porter.c — the Porter stemmer, for ROUGE with stemming.
 *
 * DESIGN. Written from the published algorithm: M. F. Porter, "An algorithm for
 * suffix stripping", Program 14(3), 130-137, 1980 (EV_STEM_PORTER). The paper's
 * definitions: a consonant is a letter other than a e i o u, and other than a y
 * preceded by a consonant (a y at the start is a consonant); any other byte
 * (digits) counts as a consonant. m is the number of VC runs in [C](VC)^m[V].
 * *v* = the stem holds a vowel, *d = it ends with a double consonant, *o = it
 * ends consonant-vowel-consonant with the last not w, x or y. In each step only
 * the rule with the longest matching suffix is considered: when its condition
 * fails, the step changes nothing (the paper's rule and Porter's own code).
 *
 * EV_STEM_PORTER_NLTK adds the departures of NLTK's default PorterStemmer mode
 * (NLTK_EXTENSIONS), which is what Google's rouge_score applies with
 * use_stemmer=True: words of at most 2 letters are kept; a short table of
 * irregular forms (dying -> die, skies -> sky, news -> news, ...); "ies"/"ied"
 * of a 4-letter word -> "ie"; "ied" -> "i"; y -> i only after a consonant that
 * is not the first letter; *o also holds for a 2-letter vowel-consonant word;
 * step 2 runs alli -> al first (then step 2 again), uses bli -> ble instead of
 * abli -> able, and adds fulli -> ful and logi -> log (the l kept in the stem's
 * measure). docs/evaluation.md lists both.
 *
 * Every rule shortens the word or keeps its length (the +e of step 1b follows a
 * removed "ed"/"ing"), so stemming happens in place.
 */
#include "tools/eval/metrics.h"

#include <string.h>

static bool is_vowel_letter(char c) {
    return c == 'a' || c == 'e' || c == 'i' || c == 'o' || c == 'u';
}

/* Consonant at i. A y takes the opposite of the letter before it; walking back
 * over a run of y's (instead of recursing) keeps long runs cheap and stack-safe. */
static bool cons_at(const char *b, size_t i) {
    if (is_vowel_letter(b[i]))
        return false;
    if (b[i] != 'y')
        return true;
    size_t j = i;
    while (j > 0 && b[j - 1] == 'y')
        j--;
    /* b[j] is the first y of the run: a consonant at the start of the word or
     * after a vowel, a vowel after a consonant. */
    bool first_cons = j == 0 || !cons_at(b, j - 1);
    return ((i - j) % 2 == 0) ? first_cons : !first_cons;
}

/* m of b[0..n): the number of vowel-to-consonant transitions. */
static size_t measure(const char *b, size_t n) {
    size_t m = 0;
    bool prev_vowel = false, prev_cons = false;
    for (size_t i = 0; i < n; i++) {
        bool c;
        if (is_vowel_letter(b[i]))
            c = false;
        else if (b[i] == 'y')
            c = i == 0 ? true : !prev_cons;
        else
            c = true;
        if (c && prev_vowel)
            m++;
        prev_vowel = !c;
        prev_cons = c;
    }
    return m;
}

static bool has_vowel(const char *b, size_t n) {
    bool prev_cons = false;
    for (size_t i = 0; i < n; i++) {
        bool c = is_vowel_letter(b[i]) ? false : b[i] == 'y' ? (i == 0 || !prev_cons) : true;
        if (!c)
            return true;
        prev_cons = c;
    }
    return false;
}

static bool ends_double_cons(const char *b, size_t n) {
    return n >= 2 && b[n - 1] == b[n - 2] && cons_at(b, n - 1);
}

static bool ends_cvc(const char *b, size_t n, bool nltk) {
    if (n >= 3 && cons_at(b, n - 3) && !cons_at(b, n - 2) && cons_at(b, n - 1) && b[n - 1] != 'w' &&
        b[n - 1] != 'x' && b[n - 1] != 'y')
        return true;
    return nltk && n == 2 && !cons_at(b, 0) && cons_at(b, 1);
}

static bool ends_with(const char *b, size_t n, const char *suf, size_t *slen) {
    size_t k = strlen(suf);
    *slen = k;
    return n >= k && memcmp(b + n - k, suf, k) == 0;
}

enum cond { C_NONE, C_M0, C_M1, C_M1_ST, C_M0_KEEP_L };
struct rule {
    const char *suf, *rep;
    enum cond cond;
};

static bool cond_holds(const char *b, size_t stem, enum cond c) {
    switch (c) {
    case C_NONE:
        return true;
    case C_M0:
        return measure(b, stem) > 0;
    case C_M1:
        return measure(b, stem) > 1;
    case C_M1_ST:
        return measure(b, stem) > 1 && stem > 0 && (b[stem - 1] == 's' || b[stem - 1] == 't');
    case C_M0_KEEP_L: /* logi -> log: the measure counts the stem with its l */
        return measure(b, stem + 1) > 0;
    }
    return false;
}

/* The rule whose suffix matches first (lists are ordered longest first where
 * suffixes overlap) is the only one considered. Returns true when it fired. */
static bool apply_rules(char *b, size_t *n, const struct rule *r, size_t nr) {
    for (size_t i = 0; i < nr; i++) {
        size_t sl;
        if (!ends_with(b, *n, r[i].suf, &sl))
            continue;
        size_t stem = *n - sl;
        if (!cond_holds(b, stem, r[i].cond))
            return false;
        size_t rl = strlen(r[i].rep);
        memcpy(b + stem, r[i].rep, rl);
        *n = stem + rl;
        return true;
    }
    return false;
}

#define NRULES(a) (sizeof(a) / sizeof((a)[0]))

static void step1a(char *b, size_t *n, bool nltk) {
    static const struct rule r[] = {
        {"sses", "ss", C_NONE}, {"ies", "i", C_NONE}, {"ss", "ss", C_NONE}, {"s", "", C_NONE}};
    size_t sl;
    if (nltk && *n == 4 && ends_with(b, *n, "ies", &sl)) {
        *n = 3; /* "ties" -> "tie" */
        return;
    }
    apply_rules(b, n, r, NRULES(r));
}

static void step1b(char *b, size_t *n, bool nltk) {
    size_t sl;
    if (nltk && ends_with(b, *n, "ied", &sl)) {
        *n = *n == 4 ? 3 : *n - 2; /* "died" -> "die", "spied" -> "spi" */
        return;
    }
    if (ends_with(b, *n, "eed", &sl)) {
        if (measure(b, *n - 3) > 0)
            *n -= 1;
        return;
    }
    if (ends_with(b, *n, "ed", &sl) && has_vowel(b, *n - 2))
        *n -= 2;
    else if (ends_with(b, *n, "ing", &sl) && has_vowel(b, *n - 3))
        *n -= 3;
    else
        return;
    /* "ed"/"ing" removed: restore an e where the stem needs one, undouble. */
    if (ends_with(b, *n, "at", &sl) || ends_with(b, *n, "bl", &sl) || ends_with(b, *n, "iz", &sl)) {
        b[(*n)++] = 'e';
    } else if (ends_double_cons(b, *n)) {
        char c = b[*n - 1];
        if (c != 'l' && c != 's' && c != 'z')
            (*n)--;
    } else if (measure(b, *n) == 1 && ends_cvc(b, *n, nltk)) {
        b[(*n)++] = 'e';
    }
}

static void step1c(char *b, size_t *n, bool nltk) {
    if (*n == 0 || b[*n - 1] != 'y')
        return;
    size_t stem = *n - 1;
    bool ok = nltk ? stem > 1 && cons_at(b, stem - 1) : has_vowel(b, stem);
    if (ok)
        b[stem] = 'i';
}

static void step2(char *b, size_t *n, bool nltk) {
    static const struct rule common_head[] = {
        {"ational", "ate", C_M0}, {"tional", "tion", C_M0}, {"enci", "ence", C_M0},
        {"anci", "ance", C_M0},   {"izer", "ize", C_M0},
    };
    static const struct rule orig_abli[] = {{"abli", "able", C_M0}};
    static const struct rule nltk_bli[] = {{"bli", "ble", C_M0}};
    static const struct rule common_tail[] = {
        {"alli", "al", C_M0},     {"entli", "ent", C_M0},   {"eli", "e", C_M0},
        {"ousli", "ous", C_M0},   {"ization", "ize", C_M0}, {"ation", "ate", C_M0},
        {"ator", "ate", C_M0},    {"alism", "al", C_M0},    {"iveness", "ive", C_M0},
        {"fulness", "ful", C_M0}, {"ousness", "ous", C_M0}, {"aliti", "al", C_M0},
        {"iviti", "ive", C_M0},   {"biliti", "ble", C_M0},
    };
    static const struct rule nltk_extra[] = {{"fulli", "ful", C_M0}, {"logi", "log", C_M0_KEEP_L}};
    size_t sl;
    if (nltk && ends_with(b, *n, "alli", &sl) && measure(b, *n - 4) > 0) {
        *n -= 2; /* alli -> al, then step 2 again on the result */
        step2(b, n, nltk);
        return;
    }
    /* The lists' suffixes never overlap across the parts, so checking the parts
     * in order is the same as one list: at most one rule can match. */
    struct {
        const struct rule *r;
        size_t n;
    } parts[] = {{common_head, NRULES(common_head)},
                 {nltk ? nltk_bli : orig_abli, 1},
                 {common_tail, NRULES(common_tail)},
                 {nltk_extra, nltk ? NRULES(nltk_extra) : 0}};
    for (size_t p = 0; p < NRULES(parts); p++)
        for (size_t i = 0; i < parts[p].n; i++)
            if (ends_with(b, *n, parts[p].r[i].suf, &sl)) {
                apply_rules(b, n, &parts[p].r[i], 1);
                return;
            }
}

static void step3(char *b, size_t *n) {
    static const struct rule r[] = {
        {"icate", "ic", C_M0}, {"ative", "", C_M0}, {"alize", "al", C_M0}, {"iciti", "ic", C_M0},
        {"ical", "ic", C_M0},  {"ful", "", C_M0},   {"ness", "", C_M0},
    };
    apply_rules(b, n, r, NRULES(r));
}

static void step4(char *b, size_t *n) {
    static const struct rule r[] = {
        {"al", "", C_M1},    {"ance", "", C_M1}, {"ence", "", C_M1}, {"er", "", C_M1},
        {"ic", "", C_M1},    {"able", "", C_M1}, {"ible", "", C_M1}, {"ant", "", C_M1},
        {"ement", "", C_M1}, {"ment", "", C_M1}, {"ent", "", C_M1},  {"ion", "", C_M1_ST},
        {"ou", "", C_M1},    {"ism", "", C_M1},  {"ate", "", C_M1},  {"iti", "", C_M1},
        {"ous", "", C_M1},   {"ive", "", C_M1},  {"ize", "", C_M1},
    };
    apply_rules(b, n, r, NRULES(r));
}

static void step5(char *b, size_t *n, bool nltk) {
    if (*n > 0 && b[*n - 1] == 'e') {
        size_t m = measure(b, *n - 1);
        if (m > 1 || (m == 1 && !ends_cvc(b, *n - 1, nltk)))
            (*n)--;
    }
    if (*n >= 2 && b[*n - 1] == 'l' && b[*n - 2] == 'l' && measure(b, *n - 1) > 1)
        (*n)--;
}

/* NLTK's table of irregular forms (NLTK_EXTENSIONS only). */
static const char *nltk_irregular(const char *b, size_t n) {
    static const char *const forms[][2] = {
        {"sky", "sky"},         {"skies", "sky"},        {"dying", "die"},
        {"lying", "lie"},       {"tying", "tie"},        {"news", "news"},
        {"innings", "inning"},  {"inning", "inning"},    {"outings", "outing"},
        {"outing", "outing"},   {"cannings", "canning"}, {"canning", "canning"},
        {"howe", "howe"},       {"proceed", "proceed"},  {"exceed", "exceed"},
        {"succeed", "succeed"},
    };
    for (size_t i = 0; i < NRULES(forms); i++)
        if (strlen(forms[i][0]) == n && memcmp(b, forms[i][0], n) == 0)
            return forms[i][1];
    return NULL;
}

size_t ev_porter_stem(char *word, size_t len, enum ev_stemmer mode) {
    if (mode == EV_STEM_NONE)
        return len;
    bool nltk = mode == EV_STEM_PORTER_NLTK;
    size_t n = len;
    if (nltk) {
        const char *irr = nltk_irregular(word, n);
        if (irr) {
            n = strlen(irr);
            memcpy(word, irr, n);
            word[n] = '\0';
            return n;
        }
        if (n <= 2)
            return n;
    }
    step1a(word, &n, nltk);
    step1b(word, &n, nltk);
    step1c(word, &n, nltk);
    step2(word, &n, nltk);
    step3(word, &n);
    step4(word, &n);
    step5(word, &n, nltk);
    word[n] = '\0';
    return n;
}
