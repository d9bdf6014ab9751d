/* report.c - formatting load_stats for report.h. */
#include "report.h"

static double us(uint64_t ns)
{
    return (double)ns / 1000.0;
}

static double per_second(const struct load_stats *s)
{
    return s->seconds > 0 ? (double)s->answers / s->seconds : 0.0;
}

static double cpu_us_per_request(const struct load_stats *s)
{
    double cpu = s->cpu_user_s + s->cpu_system_s;
    return s->answers ? cpu * 1e6 / (double)s->answers : 0.0;
}

static double min_us(const struct load_stats *s)
{
    return s->latency.total ? us(s->latency.min) : 0.0;
}

void report_text(FILE *out, const struct report *r)
{
    const struct options *o = r->options;
    const struct load_stats *s = r->stats;
    const struct histogram *h = &s->latency;
    fprintf(out, "ioload %s %s (%s): %llu connections, %u thread%s, depth %u, ",
            proto_name(o->protocol), o->target, r->engine, (unsigned long long)o->connections,
            o->threads, o->threads == 1 ? "" : "s", o->depth);
    if (o->idle)
        fprintf(out, "%llu idle (%llu of them closed by the server), ", (unsigned long long)o->idle,
                (unsigned long long)r->idle_lost);
    if (o->rate > 0)
        fprintf(out, "open loop at %.0f req/s (tick %u us)\n", o->rate, o->tick_us);
    else
        fprintf(out, "closed loop\n");
    fprintf(out, "  requests   %llu in %.2f s = %.1f req/s\n", (unsigned long long)s->answers,
            s->seconds, per_second(s));
    fprintf(out, "  latency us min %.1f  p50 %.1f  p90 %.1f  p99 %.1f  p99.9 %.1f  max %.1f  "
            "mean %.1f\n", min_us(s), us(histogram_percentile(h, 50)),
            us(histogram_percentile(h, 90)), us(histogram_percentile(h, 99)),
            us(histogram_percentile(h, 99.9)), us(h->max), histogram_mean(h) / 1000.0);
    fprintf(out, "  errors     %llu", (unsigned long long)stats_error_total(s));
    for (int k = 0; k < ERR_KINDS; k++) {
        if (s->errors[k])
            fprintf(out, "  %s %llu", stats_error_name((enum load_error)k),
                    (unsigned long long)s->errors[k]);
    }
    fprintf(out, "\n  client cpu %.3f s (user %.3f, system %.3f) = %.2f us/request; "
            "process %.3f s\n", s->cpu_user_s + s->cpu_system_s, s->cpu_user_s,
            s->cpu_system_s, cpu_us_per_request(s), r->process_cpu_s);
}

/* The target is the only free text we print; escape what JSON requires. */
static void json_string(FILE *out, const char *text)
{
    fputc('"', out);
    for (const unsigned char *p = (const unsigned char *)text; *p; p++) {
        if (*p == '"' || *p == '\\')
            fprintf(out, "\\%c", *p);
        else if (*p < 0x20)
            fprintf(out, "\\u%04x", *p);
        else
            fputc(*p, out);
    }
    fputc('"', out);
}

void report_json(FILE *out, const struct report *r)
{
    const struct options *o = r->options;
    const struct load_stats *s = r->stats;
    const struct histogram *h = &s->latency;
    fprintf(out, "{\"protocol\":\"%s\",\"target\":", proto_name(o->protocol));
    json_string(out, o->target);
    fprintf(out, ",\"engine\":\"%s\"", r->engine);
    fprintf(out, ",\"connections\":%llu,\"idle\":{\"connections\":%llu,\"lost\":%llu},\"threads\":%u,"
            "\"depth\":%u,\"mode\":\"%s\",\"rate\":%.3f,\"tick_us\":%u,", (unsigned long long)o->connections,
            (unsigned long long)o->idle, (unsigned long long)r->idle_lost, o->threads, o->depth,
            o->rate > 0 ? "open" : "closed", o->rate, o->tick_us);
    fprintf(out, "\"requests\":%llu,\"seconds\":%.6f,\"req_per_s\":%.3f,",
            (unsigned long long)s->answers, s->seconds, per_second(s));
    fprintf(out, "\"latency_us\":{\"min\":%.3f,\"mean\":%.3f,\"p50\":%.3f,\"p90\":%.3f,"
            "\"p99\":%.3f,\"p99_9\":%.3f,\"max\":%.3f},", min_us(s), histogram_mean(h) / 1000.0,
            us(histogram_percentile(h, 50)), us(histogram_percentile(h, 90)),
            us(histogram_percentile(h, 99)), us(histogram_percentile(h, 99.9)), us(h->max));
    fputs("\"errors\":{", out);
    for (int k = 0; k < ERR_KINDS; k++)
        fprintf(out, "\"%s\":%llu,", stats_error_name((enum load_error)k),
                (unsigned long long)s->errors[k]);
    fprintf(out, "\"total\":%llu},", (unsigned long long)stats_error_total(s));
    fprintf(out, "\"connects\":%llu,\"bytes_in\":%llu,\"bytes_out\":%llu,",
            (unsigned long long)s->connects, (unsigned long long)s->bytes_in,
            (unsigned long long)s->bytes_out);
    fprintf(out, "\"cpu\":{\"user_s\":%.6f,\"system_s\":%.6f,\"total_s\":%.6f,"
            "\"us_per_request\":%.4f,\"process_s\":%.6f}}\n", s->cpu_user_s, s->cpu_system_s,
            s->cpu_user_s + s->cpu_system_s, cpu_us_per_request(s), r->process_cpu_s);
}
