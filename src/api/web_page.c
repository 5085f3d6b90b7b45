/* web_page.c — GET /: one self-contained page to upload a file, watch its
 * chunks through EventSource (GET /v1/jobs/{id}/events) and read the
 * transcript; a banner while /readyz reports degraded mode. No external
 * assets: the page is compiled in, and its Content-Security-Policy allows
 * nothing but this origin and the page's own inline style and script.
 * /#job={id} follows an existing job. */
#include "api.h"

#include <string.h>

/* clang-format off */
static const char PAGE[] =
"<!doctype html>\n"
"<html lang=en><head><meta charset=utf-8>\n"
"<meta name=viewport content='width=device-width,initial-scale=1'>\n"
"<title>steno</title>\n"
"<style>\n"
"body{font:15px/1.45 system-ui,sans-serif;max-width:52rem;margin:2rem auto;padding:0 1rem;color:#222}\n"
"h1{font-size:1.4rem}#banner{display:none;background:#fff3cd;border:1px solid #e0c060;padding:.5rem .8rem;margin-bottom:1rem}\n"
"#bar{display:flex;gap:2px;height:1.4rem;margin:.6rem 0}#bar div{flex:1;background:#ddd}\n"
"#bar .running{background:#8ab4f8}#bar .done{background:#34a853}#bar .failed{background:#ea4335}\n"
"#text{white-space:pre-wrap;border:1px solid #ccc;padding:.6rem;min-height:3rem}\n"
"#log{font:12px monospace;color:#666;max-height:10rem;overflow:auto}\n"
"</style></head><body>\n"
"<div id=banner role=status></div>\n"
"<h1>steno &mdash; speech to text</h1>\n"
"<form id=form><input type=file id=file name=file accept='audio/*' required>\n"
"<input id=lang name=language placeholder='language (auto)' size=12>\n"
"<button>Transcribe</button></form>\n"
"<p id=status>Choose an audio file.</p>\n"
"<div id=bar></div><p id=progress></p>\n"
"<div id=text></div>\n"
"<details><summary>events</summary><div id=log></div></details>\n"
"<script>\n"
"'use strict';\n"
"const $=id=>document.getElementById(id);let es=null,cells=[];\n"
"function say(s){$('status').textContent=s}\n"
"function log(s){const d=document.createElement('div');d.textContent=s;$('log').prepend(d)}\n"
"async function ready(){try{const r=await fetch('/readyz');const j=await r.json();\n"
" const b=$('banner');if(j.mode==='degraded'){b.textContent='Degraded mode'+(j.mode_reason?': '+j.mode_reason:'')+\n"
" ' \\u2014 progress and caching run on fallbacks; jobs still complete.';b.style.display='block'}\n"
" else b.style.display='none'}catch(e){}}\n"
"function plan(n){const bar=$('bar');bar.textContent='';cells=[];\n"
" for(let i=0;i<n;i++){const c=document.createElement('div');bar.append(c);cells.push(c)}}\n"
"function cell(i){while(cells.length<=i){const c=document.createElement('div');$('bar').append(c);cells.push(c)}return cells[i]}\n"
"async function transcript(id){const r=await fetch('/v1/transcripts/'+id+'?format=text');\n"
" $('text').textContent=r.ok?await r.text():'(transcript unavailable: '+r.status+')'}\n"
"function follow(id){if(es)es.close();location.hash='job='+id;say('Job '+id+': waiting\\u2026');\n"
" es=new EventSource('/v1/jobs/'+id+'/events');\n"
" const on=(t,f)=>es.addEventListener(t,e=>{const d=JSON.parse(e.data);log(e.lastEventId+' '+t+' '+e.data);f(d)});\n"
" on('job',d=>{if(d.state==='planned')plan(d.chunks_total);else if(d.chunks_total)plan(d.chunks_total);\n"
"  say('Job '+id+': '+(d.state==='planned'?d.chunks_total+' chunks, '+d.audio_seconds.toFixed(1)+' s of audio':'running'))});\n"
" on('chunk',d=>{cell(d.index).className=d.state==='split'?'running':d.state});\n"
" on('progress',d=>{$('progress').textContent=d.percent+'% \\u2014 '+d.chunks_done+'/'+d.chunks_total+\n"
"  ' chunks'+(d.chunks_failed?', '+d.chunks_failed+' failed':'')+(d.eta_seconds!=null?', about '+Math.ceil(d.eta_seconds)+' s left':'')});\n"
" on('done',d=>{es.close();say('Job '+id+': done');cells.forEach(c=>c.className='done');transcript(id)});\n"
" es.addEventListener('error',e=>{if(!e.data){if(es.readyState===2)say('Job '+id+': stream closed');return}\n"
"  const d=JSON.parse(e.data);log(e.lastEventId+' error '+e.data);es.close();\n"
"  say('Job '+id+': '+d.status+' \\u2014 '+((d.error&&d.error.message)||''))});}\n"
"$('form').addEventListener('submit',async ev=>{ev.preventDefault();const f=$('file').files[0];if(!f)return;\n"
" const fd=new FormData();fd.append('file',f);if($('lang').value)fd.append('language',$('lang').value);\n"
" say('Uploading '+f.name+'\\u2026');$('text').textContent='';plan(0);\n"
" const r=await fetch('/v1/transcriptions',{method:'POST',body:fd});let j={};try{j=await r.json()}catch(e){}\n"
" if(!r.ok){say('Upload failed: '+((j.error&&j.error.message)||r.status));return}\n"
" if(j.id&&r.status===202)follow(j.id);else if(j.text!==undefined){say('Cached result');$('text').textContent=j.text}\n"
" else if(j.id)follow(j.id)});\n"
"const m=location.hash.match(/job=([0-9a-f-]{36})/);if(m)follow(m[1]);\n"
"ready();setInterval(ready,10000);\n"
"</script></body></html>\n";
/* clang-format on */

void api_web_page(struct http_request *req)
{
    http_response_header(req, "cache-control", "no-cache");
    http_response_header(req, "content-security-policy",
                         "default-src 'self'; style-src 'unsafe-inline'; "
                         "script-src 'unsafe-inline'; connect-src 'self'");
    http_respond(req, 200, "text/html; charset=utf-8", PAGE, sizeof(PAGE) - 1);
}
