"""The words of the web tip pages, in English and Spanish."""

from __future__ import annotations

LANGUAGES = {"en": "English", "es": "Español"}

TEXTS: dict[str, dict[str, str]] = {
    "en": {
        "site": "Anonymous tips",
        "skip": "Skip to main content",
        "language_switch": "Language",
        "index_title": "Send an anonymous tip",
        "index_intro": "Choose where your tip should go. You do not need to give your name, and this "
        "site keeps no record of who you are: no address, no cookies beyond the form's own, no tracking.",
        "emergency": "If someone is in danger right now, call 911.",
        "check_link": "Already sent a tip? Read messages and add information",
        "no_hotlines": "No hotline accepts web tips at the moment.",
        "form_intro": "Answer what you can; every question may be left empty, but tell us something.",
        "choose": "Which of these fits best?",
        "optional": "optional",
        "digits_hint": "Digits only, {min} to {max} of them.",
        "attachments": "Photos or documents",
        "attachments_hint": "Up to {files} files, JPEG, PNG or PDF, at most {mb} MB each. Photos are "
        "re-saved without their hidden data (location, camera, date). PDF files are kept as they are: "
        "remove your name from a document's properties before attaching it.",
        "honeypot": "Leave this empty",
        "send": "Send the tip",
        "errors_title": "Please correct the following:",
        "error_empty": "Tell us something: answer at least one question or attach a file.",
        "error_too_long": "This answer is too long: at most {max} characters.",
        "error_choice": "Choose one of the answers listed.",
        "error_digits": "Use digits only, {min} to {max} of them.",
        "error_files_count": "Attach at most {files} files.",
        "error_file_size": "{name} is larger than {mb} MB.",
        "error_file_type": "{name} is not a JPEG, PNG or PDF file.",
        "error_file_image": "{name} could not be read as an image.",
        "error_file_pixels": "{name} is too large an image (more than {pixels} million pixels).",
        "error_files_again": "Attach your files again: a browser does not keep them when a page comes back.",
        "error_expired_form": "Form expired: the page timed out before you sent it. Your answers are "
        "below: check them and send again.",
        "error_not_saved": "We could not save what you sent: the site has a technical problem. Nothing was "
        "kept. Your answers are below: send them again in a few minutes. If someone is in danger right now, "
        "call 911.",
        "filed_title": "Thank you. Your tip was received.",
        "tip_number": "Your tip number",
        "tip_number_keep": "Write it down and keep it safe. With it and a PIN you can come back to read "
        "messages from the investigators and add information.",
        "pin_title": "Choose a PIN or a passphrase",
        "pin_intro": "Only a scrambled form of it is kept: nobody can tell you what it was, so keep it "
        "with your tip number.",
        "pin_label": "PIN (4 to 8 digits)",
        "pin_again": "The same PIN again",
        "pin_save": "Save this PIN",
        "pass_title": "Or use this passphrase",
        "pass_intro": "Four words chosen at random for you. It is shown only this once.",
        "pass_save": "Use this passphrase",
        "pin_skip": "Finish without a PIN (you will not be able to read messages)",
        "error_pin_format": "A PIN is 4 to 8 digits.",
        "error_pin_match": "The two PINs are not the same.",
        "error_pin_set": "A PIN was already chosen for this tip.",
        "error_expired": "This page has expired. For your safety, enter your tip number and PIN again.",
        "pin_saved_title": "Your PIN is saved",
        "pin_saved": "Come back to this site's check page with your tip number and PIN to read messages "
        "from the investigators and to add information.",
        "check_title": "Read messages and add information",
        "check_intro": "Enter your tip number and the PIN or passphrase you chose.",
        "tip_label": "Tip number",
        "secret_label": "PIN or passphrase",
        "check_send": "Open",
        "check_refused": "We could not open a tip with that number and PIN. Check both and try again. "
        "After several wrong tries a tip is locked for 24 hours.",
        "error_tip_format": "A tip number is 8 digits.",
        "error_secret_empty": "Enter your PIN or passphrase.",
        "status_title": "Status",
        "status_open": "Your report was received and is being reviewed.",
        "status_closed": "Your report has been closed. Thank you.",
        "messages_title": "Messages from the investigators",
        "messages_none": "There are no messages for you yet.",
        "message_new": "New",
        "reply_title": "Add information",
        "reply_label": "Your message",
        "reply_hint": "At most {max} characters.",
        "reply_send": "Send",
        "reply_sent": "Thank you. What you added was received.",
        "error_reply_empty": "Write a message or attach a file.",
        "too_large_title": "Too much to send at once",
        "too_large": "What you sent is larger than this site accepts ({mb} MB in all, {file_mb} MB per file). "
        "Go back, attach fewer or smaller files, and send again.",
        "limited_title": "Please wait a while",
        "limited": "Too many tips or tries came from this connection in a short time. Please try again in "
        "an hour. If someone is in danger right now, call 911.",
        "not_found_title": "Page not found",
        "not_found": "There is no tip form at this address.",
        "back": "Back to the start",
    },
    "es": {
        "site": "Avisos anónimos",
        "skip": "Saltar al contenido principal",
        "language_switch": "Idioma",
        "index_title": "Envíe un aviso anónimo",
        "index_intro": "Elija adónde debe llegar su aviso. No tiene que dar su nombre y este sitio no "
        "guarda nada que diga quién es usted: ni dirección, ni más cookies que la del formulario, ni rastreo.",
        "emergency": "Si alguien está en peligro ahora mismo, llame al 911.",
        "check_link": "¿Ya envió un aviso? Lea mensajes y agregue información",
        "no_hotlines": "Ahora mismo ninguna línea recibe avisos por la web.",
        "form_intro": "Responda lo que pueda; puede dejar cualquier pregunta en blanco, pero díganos algo.",
        "choose": "¿Cuál de estas opciones corresponde mejor?",
        "optional": "opcional",
        "digits_hint": "Solo dígitos, de {min} a {max}.",
        "attachments": "Fotos o documentos",
        "attachments_hint": "Hasta {files} archivos JPEG, PNG o PDF, de {mb} MB como máximo cada uno. Las "
        "fotos se vuelven a guardar sin sus datos ocultos (ubicación, cámara, fecha). Los PDF se guardan tal "
        "como están: quite su nombre de las propiedades del documento antes de adjuntarlo.",
        "honeypot": "Deje esto en blanco",
        "send": "Enviar el aviso",
        "errors_title": "Corrija lo siguiente:",
        "error_empty": "Díganos algo: responda al menos una pregunta o adjunte un archivo.",
        "error_too_long": "Esta respuesta es demasiado larga: como máximo {max} caracteres.",
        "error_choice": "Elija una de las respuestas de la lista.",
        "error_digits": "Use solo dígitos, de {min} a {max}.",
        "error_files_count": "Adjunte como máximo {files} archivos.",
        "error_file_size": "{name} pesa más de {mb} MB.",
        "error_file_type": "{name} no es un archivo JPEG, PNG ni PDF.",
        "error_file_image": "{name} no se pudo leer como imagen.",
        "error_file_pixels": "{name} es una imagen demasiado grande (más de {pixels} millones de píxeles).",
        "error_files_again": "Adjunte de nuevo sus archivos: el navegador no los conserva al volver la página.",
        "error_expired_form": "Formulario caducado: la página caducó antes de enviarla. Sus respuestas "
        "están abajo: revíselas y envíelas de nuevo.",
        "error_not_saved": "No pudimos guardar lo que envió: el sitio tiene un problema técnico. No se "
        "guardó nada. Sus respuestas están abajo: envíelas de nuevo en unos minutos. Si alguien está en "
        "peligro ahora mismo, llame al 911.",
        "filed_title": "Gracias. Recibimos su aviso.",
        "tip_number": "Su número de aviso",
        "tip_number_keep": "Anótelo y guárdelo bien. Con él y un número secreto podrá volver para leer "
        "mensajes de los investigadores y agregar información.",
        "pin_title": "Elija un número secreto o una frase secreta",
        "pin_intro": "Solo se guarda una versión cifrada: nadie podrá decirle cuál era, así que guárdelo "
        "junto con su número de aviso.",
        "pin_label": "Número secreto (de 4 a 8 dígitos)",
        "pin_again": "El mismo número secreto otra vez",
        "pin_save": "Guardar este número secreto",
        "pass_title": "O use esta frase secreta",
        "pass_intro": "Cuatro palabras elegidas al azar para usted. Solo se muestra esta vez.",
        "pass_save": "Usar esta frase secreta",
        "pin_skip": "Terminar sin número secreto (no podrá leer mensajes)",
        "error_pin_format": "El número secreto tiene de 4 a 8 dígitos.",
        "error_pin_match": "Los dos números secretos no coinciden.",
        "error_pin_set": "Ya se eligió un número secreto para este aviso.",
        "error_expired": "Esta página caducó. Por su seguridad, escriba otra vez su número de aviso y su "
        "número secreto.",
        "pin_saved_title": "Su número secreto quedó guardado",
        "pin_saved": "Vuelva a la página de consulta de este sitio con su número de aviso y su número "
        "secreto para leer mensajes de los investigadores y agregar información.",
        "check_title": "Leer mensajes y agregar información",
        "check_intro": "Escriba su número de aviso y el número o la frase secreta que eligió.",
        "tip_label": "Número de aviso",
        "secret_label": "Número o frase secreta",
        "check_send": "Abrir",
        "check_refused": "No pudimos abrir un aviso con ese número y esa clave. Revise ambos e inténtelo "
        "de nuevo. Después de varios intentos fallidos, el aviso se bloquea durante 24 horas.",
        "error_tip_format": "El número de aviso tiene 8 dígitos.",
        "error_secret_empty": "Escriba su número o frase secreta.",
        "status_title": "Estado",
        "status_open": "Su denuncia fue recibida y está siendo revisada.",
        "status_closed": "Su denuncia ha sido cerrada. Gracias.",
        "messages_title": "Mensajes de los investigadores",
        "messages_none": "Todavía no hay mensajes para usted.",
        "message_new": "Nuevo",
        "reply_title": "Agregar información",
        "reply_label": "Su mensaje",
        "reply_hint": "Como máximo {max} caracteres.",
        "reply_send": "Enviar",
        "reply_sent": "Gracias. Recibimos lo que agregó.",
        "error_reply_empty": "Escriba un mensaje o adjunte un archivo.",
        "too_large_title": "Demasiado para enviar de una vez",
        "too_large": "Lo que envió pesa más de lo que este sitio acepta ({mb} MB en total, {file_mb} MB "
        "por archivo). Vuelva atrás, adjunte menos archivos o más pequeños y envíelo de nuevo.",
        "limited_title": "Espere un momento, por favor",
        "limited": "Llegaron demasiados avisos o intentos desde esta conexión en poco tiempo. Inténtelo de "
        "nuevo dentro de una hora. Si alguien está en peligro ahora mismo, llame al 911.",
        "not_found_title": "Página no encontrada",
        "not_found": "No hay ningún formulario de avisos en esta dirección.",
        "back": "Volver al inicio",
    },
}


def language_of(value: str | None) -> str:
    """A supported language code, English unless another was asked for."""
    return value if value in TEXTS else "en"


def text(language: str, key: str, **values: object) -> str:
    """One sentence of the pages in a language, with its {placeholders} filled."""
    words = TEXTS[language_of(language)][key]
    return words.format(**values) if values else words
